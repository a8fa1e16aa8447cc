package transforms

import (
	"context"
	"runtime"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// TrainOptions configures TrainExercises.
type TrainOptions struct {
	trainer.Options
	// Components is the components table the replay reused: the rows refer
	// to components by key.
	Components ComponentsSource
}

// TrainExercises groups row batches per exercise and fits each exercise's
// thetas, with the components of opts.Components and those derived from
// their keys. It returns the model.ExerciseThetas
// of the trained exercises and the model.SkippedExercise of the others.
func TrainExercises(s beam.Scope, rows beam.PCollection, opts TrainOptions) (thetas, skipped beam.PCollection) {
	s = s.Scope("TrainExercises")
	grouped := beam.GroupByKey(s, rows)
	return beam.ParDo2(s, &trainFn{Options: opts}, grouped)
}

// trainFn fits the thetas of the exercises of a bundle, Parallel of them at
// once: a runner may hand every exercise to one bundle (prism does), and
// expanding an exercise's rows and fitting them is serial work that a
// single fit's parallel evaluations leave partly idle. The DoFn's own
// goroutine reads each exercise's grouped rows and emits the results, with
// the counters and the log lines, as the fits end; FinishBundle emits the
// rest.
type trainFn struct {
	Options TrainOptions
	// Parallel is how many exercises are fitted at once; 0: GOMAXPROCS.
	// Each fit's evaluations then use Options.Workers / Parallel
	// goroutines (at least one).
	Parallel int

	table   []features.Component // loaded in Setup
	jobs    chan *fitJob
	done    chan *fitJob
	quit    chan struct{} // closed when the bundle fails
	pending int           // jobs sent and not yet reported
}

// fitJob is one exercise to fit, and what became of it.
type fitJob struct {
	exercise string
	rows     *trainer.Collector

	out trainer.Outcome
	err error // the run fails
}

func (fn *trainFn) Setup(ctx context.Context) error {
	var err error
	fn.table, err = fn.Options.Components.Load(ctx)
	return err
}

func (fn *trainFn) StartBundle(context.Context, func(model.ExerciseThetas), func(model.SkippedExercise)) error {
	n := fn.Parallel
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	opts := fn.Options
	opts.Workers = max(1, opts.Workers/n)
	// The fitters get the channels as their own: stop sets fn.jobs to nil,
	// possibly before a fitter has started. A failed bundle stops reading
	// done and closes quit, which ends the fitters without a send that
	// nobody receives (see the package's concurrency contract).
	jobs, done, quit := make(chan *fitJob, n), make(chan *fitJob, n), make(chan struct{})
	fn.jobs, fn.done, fn.quit, fn.pending = jobs, done, quit, 0
	for range n {
		// Each fitter derives the components the table lacks in its own
		// copy: Components is not safe for concurrent use.
		comps, err := features.NewComponents(fn.table)
		if err != nil {
			fn.abort()
			return err
		}
		go fitter(jobs, done, quit, opts, comps)
	}
	return nil
}

// fitter fits the exercises it receives until jobs is closed or quit.
func fitter(jobs <-chan *fitJob, done chan<- *fitJob, quit <-chan struct{}, opts TrainOptions, comps *features.Components) {
	for j := range jobs {
		select {
		case <-quit:
			return
		default:
		}
		fitOne(j, opts, comps)
		failpoint.Hit("train/exercise")
		select {
		case done <- j:
		case <-quit:
			return
		}
	}
}

func (fn *trainFn) ProcessElement(ctx context.Context, exercise string, batches func(*trainer.RowBatch) bool,
	emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	defer fn.abortOnPanic()
	c := trainer.NewCollector(fn.Options.MaxRows)
	var b trainer.RowBatch
	for batches(&b) {
		c.Add(&b)
	}
	// Hand the exercise to a fitter, reporting finished fits while the
	// fitters are all busy.
	j := &fitJob{exercise: exercise, rows: c}
	for {
		select {
		case fn.jobs <- j:
			fn.pending++
			if err := fn.reportDone(ctx, false, emit, emitSkip); err != nil {
				fn.abort()
				return err
			}
			return nil
		case d := <-fn.done:
			if err := fn.report(ctx, d, emit, emitSkip); err != nil {
				fn.abort()
				return err
			}
		}
	}
}

func (fn *trainFn) FinishBundle(ctx context.Context, emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	defer fn.abortOnPanic()
	fn.stop()
	if err := fn.reportDone(ctx, true, emit, emitSkip); err != nil {
		fn.abort()
		return err
	}
	return nil
}

// reportDone reports the finished fits; with wait, all of them.
func (fn *trainFn) reportDone(ctx context.Context, wait bool, emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	for fn.pending > 0 {
		var d *fitJob
		if wait {
			d = <-fn.done
		} else {
			select {
			case d = <-fn.done:
			default:
				return nil
			}
		}
		if err := fn.report(ctx, d, emit, emitSkip); err != nil {
			return err
		}
	}
	return nil
}

// stop ends the fitters once the jobs sent are fitted.
func (fn *trainFn) stop() {
	if fn.jobs != nil {
		close(fn.jobs)
		fn.jobs = nil
	}
}

// abort ends the fitters of a failed bundle without waiting for them:
// their results are dropped with the bundle.
func (fn *trainFn) abort() {
	fn.stop()
	if fn.quit != nil {
		close(fn.quit)
		fn.quit = nil
	}
}

// abortOnPanic, deferred, aborts the bundle's fitters when it fails by a
// panic rather than an error (Beam's emitters panic when a step
// downstream fails), and panics on.
func (fn *trainFn) abortOnPanic() {
	if r := recover(); r != nil {
		fn.abort()
		panic(r)
	}
}

// fitOne fits one exercise, on a fitter's goroutine.
func fitOne(j *fitJob, opts TrainOptions, comps *features.Components) {
	c := j.rows
	j.rows = nil
	j.out, j.err = trainer.Train(j.exercise, c, comps, opts.Options)
}

// report counts, logs and emits one fit's result, on the DoFn's goroutine.
func (fn *trainFn) report(ctx context.Context, j *fitJob, emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	fn.pending--
	switch {
	case j.err != nil:
		return j.err
	case j.out.Skipped != nil:
		skippedCounter.Inc(ctx, 1)
		if j.out.Failed {
			log.Warnf(ctx, "exercise %s: %s", j.exercise, j.out.Skipped.Reason)
		}
		emitSkip(*j.out.Skipped)
		return nil
	}
	t := j.out.Thetas
	trainedCounter.Inc(ctx, 1)
	log.Infof(ctx, "trained %s: %d rows, %d iterations, %s, loss %.6f, %.2fs",
		t.Exercise, t.Rows, t.Iterations, t.Status, t.Loss, t.TrainingSeconds)
	if j.out.L2 != "" {
		log.Infof(ctx, "l2 of %s: %s", t.Exercise, j.out.L2)
	}
	emit(t)
	return nil
}

var (
	trainedCounter = beam.NewCounter("kmtrain", "exercises_trained")
	skippedCounter = beam.NewCounter("kmtrain", "exercises_skipped")
)
