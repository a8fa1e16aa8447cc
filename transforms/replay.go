package transforms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// DefaultFlushRows is how many rows a replay buffers before emitting its
// per-exercise batches.
const DefaultFlushRows = 1 << 15

// ReplayOptions configures ReplayStudents.
type ReplayOptions struct {
	Window     features.Window          // problem numbers that become rows
	KeepGaps   bool                     // keep students whose problem numbers skip
	Keying     features.ComponentKeying // what a component is keyed by
	ExportRows bool                     // also emit each student's rows as CSV text
	Holdout    Holdout                  // students or attempts kept out of training, for evaluation
	Components ComponentsSource         // the existing components table to reuse
	Features   features.FeatureSet      // the features the rows are for
}

// Holdout says what of the input is kept out of training to evaluate the
// model on. The zero value holds nothing out.
type Holdout struct {
	// Fraction of the students, chosen by a hash of the user id (HeldOut),
	// whose logs are not trained on.
	Fraction float64 `json:"fraction,omitempty"`
	// After, if set, trains on the attempts before it and evaluates the
	// attempts at or after it, every student's history replayed whole.
	After time.Time `json:"after,omitempty"`
}

// Active reports whether anything is held out.
func (h Holdout) Active() bool { return h.Fraction > 0 || !h.After.IsZero() }

// HeldOut reports whether a student is in the held-out fraction of
// students: the first 8 bytes of SHA-256 of the user id, as a number in
// [0, 1), are below fraction. The same user is held out on every worker, in
// every run with the same fraction, and a larger fraction holds out a
// superset.
func HeldOut(user string, fraction float64) bool {
	if fraction <= 0 {
		return false
	}
	h := sha256.Sum256([]byte(user))
	return float64(binary.BigEndian.Uint64(h[:8])>>11)/(1<<53) < fraction
}

// Replayed is the output of ReplayStudents.
type Replayed struct {
	Rows          beam.PCollection // KV<exercise, trainer.RowBatch>
	NewComponents beam.PCollection // features.Component derived during the replay
	Stats         beam.PCollection // Stats
	Export        beam.PCollection // KV<user, string>: the user's rows as CSV lines, if asked for
	HeldOut       beam.PCollection // KV<user, LogBatch>: the whole history of each student to evaluate on
}

// ReplayStudents groups logs (KV<StudentGroup, LogBatch>, as the sources
// emit them) per student, replays each student's history in time order and
// emits the training rows batched per exercise. Components
// come from opts.Components; keys it lacks get derived components, which
// come out as NewComponents.
func ReplayStudents(s beam.Scope, logs beam.PCollection, opts ReplayOptions) Replayed {
	s = s.Scope("ReplayStudents")
	grouped := beam.GroupByKey(s, logs)
	outs := beam.ParDoN(s, &replayFn{Window: opts.Window, KeepGaps: opts.KeepGaps, Keying: opts.Keying,
		ExportRows: opts.ExportRows, Holdout: opts.Holdout, Components: opts.Components, Features: opts.Features},
		grouped)
	return Replayed{Rows: outs[0], NewComponents: outs[1], Stats: outs[2], Export: outs[3], HeldOut: outs[4]}
}

// replayFn replays students. Rows are buffered per exercise across the
// bundle, so that the GroupByKey per exercise moves batches, not rows.
//
// The students of a bundle are replayed by Workers goroutines at once, each
// with rows and components of its own, while the DoFn's own goroutine reads
// the grouped logs and emits: a runner may hand the whole replay to one
// bundle (prism does), and replaying is most of its CPU. Which goroutine
// replays a student changes only how rows fall into batches; the trainer
// orders rows by content.
type replayFn struct {
	Window     features.Window
	KeepGaps   bool
	Keying     features.ComponentKeying
	ExportRows bool
	Holdout    Holdout
	Components ComponentsSource
	Features   features.FeatureSet
	FlushRows  int
	// Workers is how many students are replayed at once; 0: GOMAXPROCS.
	// Exporting rows replays one at a time, in order.
	Workers int

	table    []features.Component // loaded in Setup
	workers  []*replayWorker
	students chan replayJob
	inFlight sync.WaitGroup
	buffered atomic.Int64 // rows buffered by all workers
	replayed atomic.Int64 // students replayed in this bundle
	stats    Stats        // the DoFn goroutine's: held-out students
	lastLog  time.Time
}

// replayJob is one student to replay.
type replayJob struct {
	user string
	logs []features.ProblemLog
}

// replayWorker is the state of one replaying goroutine.
type replayWorker struct {
	fn         *replayFn
	components *features.Components
	rows       map[string]*trainer.RowBatch
	stats      Stats
	exports    []userLines // with ExportRows (one worker, run inline)
	err        error       // the first failure
}

type userLines struct{ user, lines string }

func (fn *replayFn) Setup(ctx context.Context) error {
	var err error
	fn.table, err = fn.Components.Load(ctx)
	return err
}

func (fn *replayFn) StartBundle(_ context.Context,
	_ func(string, trainer.RowBatch), _ func(features.Component), _ func(Stats), _ func(string, string), _ func(string, LogBatch)) error {
	if fn.FlushRows <= 0 {
		fn.FlushRows = DefaultFlushRows
	}
	n := fn.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if fn.ExportRows {
		n = 1
	}
	fn.stats = Stats{}
	fn.buffered.Store(0)
	fn.replayed.Store(0)
	fn.workers = fn.workers[:0]
	for range n {
		c, err := features.NewComponents(fn.table)
		if err != nil {
			return err
		}
		c.Keying = fn.Keying
		fn.workers = append(fn.workers, &replayWorker{fn: fn, components: c, rows: map[string]*trainer.RowBatch{}})
	}
	fn.students = nil
	if n > 1 {
		// The workers get the channel and the WaitGroup as arguments: stop
		// sets fn.students to nil, possibly before a worker has started
		// (see the package's concurrency contract).
		students := make(chan replayJob, 4*n)
		fn.students = students
		for _, w := range fn.workers {
			go w.run(students, &fn.inFlight)
		}
	}
	return nil
}

// run replays the students it receives until students is closed.
func (w *replayWorker) run(students <-chan replayJob, inFlight *sync.WaitGroup) {
	for j := range students {
		if w.err == nil {
			w.err = w.replay(j)
		}
		inFlight.Done()
	}
}

func (fn *replayFn) ProcessElement(ctx context.Context, _ string, batches func(*LogBatch) bool,
	emitRows func(string, trainer.RowBatch), emitComponent func(features.Component), _ func(Stats), emitExport func(string, string),
	emitHeldOut func(string, LogBatch)) error {
	defer fn.stopOnPanic()
	err := eachStudent(batches, func(user string, logs []features.ProblemLog) error {
		return fn.student(user, logs, emitRows, emitComponent, emitExport, emitHeldOut)
	})
	if err != nil {
		fn.stop() // the bundle fails: FinishBundle will not run
		return err
	}
	if time.Since(fn.lastLog) > 10*time.Second {
		fn.lastLog = time.Now()
		log.Infof(ctx, "replay: %d students replayed, %d held out in this bundle so far", fn.replayed.Load(), fn.stats.Counts[CountStudentsHeldOut])
	}
	return nil
}

// student holds one student's logs out, or hands them to a worker to
// replay, and flushes the batches when enough rows are buffered.
func (fn *replayFn) student(user string, logs []features.ProblemLog,
	emitRows func(string, trainer.RowBatch), emitComponent func(features.Component), emitExport func(string, string),
	emitHeldOut func(string, LogBatch)) error {
	if fn.Holdout.Fraction > 0 && HeldOut(user, fn.Holdout.Fraction) {
		fn.stats.Add(CountStudentsHeldOut, 1)
		fn.stats.Add(CountLogsHeldOut, int64(len(logs)))
		emitHeldOut(user, LogBatch{Logs: logs})
		return nil
	}
	if !fn.Holdout.After.IsZero() {
		// Train on the attempts before After; evaluate the rest with the
		// whole history replayed.
		features.SortLogs(logs)
		cut, _ := slices.BinarySearchFunc(logs, fn.Holdout.After, func(l features.ProblemLog, t time.Time) int {
			return l.TimeDone.Compare(t)
		})
		if cut < len(logs) {
			fn.stats.Add(CountLogsHeldOut, int64(len(logs)-cut))
			emitHeldOut(user, LogBatch{Logs: slices.Clone(logs)})
		}
		logs = logs[:cut]
		if cut == 0 {
			return nil
		}
	}
	job := replayJob{user: user, logs: logs}
	if fn.students == nil {
		w := fn.workers[0]
		if w.err == nil {
			w.err = w.replay(job)
		}
		for _, e := range w.exports {
			emitExport(e.user, e.lines)
		}
		w.exports = w.exports[:0]
	} else {
		fn.inFlight.Add(1)
		fn.students <- job
	}
	if fn.buffered.Load() >= int64(fn.FlushRows) {
		return fn.flush(emitRows, emitComponent)
	}
	return nil
}

// replay replays one student into the worker's batches.
func (w *replayWorker) replay(j replayJob) error {
	fn := w.fn
	var export *bytes.Buffer
	var csv *features.RowsCSVWriter
	if fn.ExportRows {
		export = &bytes.Buffer{}
		csv = features.NewRowsCSVWriter(export)
	}
	defer fn.replayed.Add(1)
	rows := 0
	opts := features.ReplayOptions{Window: fn.Window, KeepGaps: fn.KeepGaps, Compact: !fn.ExportRows, Features: fn.Features}
	err := features.Replay(j.logs, w.components, opts, func(r *features.Row) {
		batch := w.rows[r.Exercise]
		if batch == nil {
			batch = &trainer.RowBatch{Extended: fn.Features == features.Extended}
			w.rows[r.Exercise] = batch
		}
		batch.Add(r)
		rows++
		if csv != nil {
			csv.Write(*r)
		}
	})
	var gap *features.GapError
	switch {
	case errors.As(err, &gap):
		w.stats.Add(CountStudentsDropped, 1)
		w.stats.Add(CountLogsDropped, int64(len(j.logs)))
		w.stats.Example(ExampleDropped, gap.Error())
		return nil
	case err != nil:
		return err
	}
	w.stats.Add(CountStudentsKept, 1)
	w.stats.Add(CountRows, int64(rows))
	if csv != nil && rows > 0 {
		if err := csv.Flush(); err != nil {
			return err
		}
		_, lines, _ := bytes.Cut(export.Bytes(), []byte("\n")) // the header is written once, by WriteRowsCSV
		w.exports = append(w.exports, userLines{j.user, string(lines)})
	}
	fn.buffered.Add(int64(rows))
	return nil
}

// stop lets the workers end once the students sent are replayed.
func (fn *replayFn) stop() {
	if fn.students != nil {
		close(fn.students)
		fn.students = nil
	}
}

// stopOnPanic, deferred, stops the workers when the bundle fails by a
// panic rather than an error (Beam's emitters panic when a step
// downstream fails), and panics on.
func (fn *replayFn) stopOnPanic() {
	if r := recover(); r != nil {
		fn.stop()
		panic(r)
	}
}

// flush waits for the students in flight and emits every worker's batches
// and the components they derived.
func (fn *replayFn) flush(emitRows func(string, trainer.RowBatch), emitComponent func(features.Component)) error {
	fn.inFlight.Wait()
	for _, w := range fn.workers {
		if w.err != nil {
			return w.err
		}
		for ex, b := range w.rows {
			emitRows(ex, *b)
		}
		clear(w.rows)
		for _, c := range w.components.TakeAdded() {
			emitComponent(c)
		}
	}
	fn.buffered.Store(0)
	return nil
}

func (fn *replayFn) FinishBundle(ctx context.Context,
	emitRows func(string, trainer.RowBatch), emitComponent func(features.Component), emitStats func(Stats), _ func(string, string),
	_ func(string, LogBatch)) error {
	fn.stop()
	err := fn.flush(emitRows, emitComponent)
	st := fn.stats
	for _, w := range fn.workers {
		st.Merge(w.stats)
		w.stats = Stats{}
	}
	if dropped := st.Counts[CountStudentsDropped]; dropped > 0 {
		log.Infof(ctx, "dropped %d students whose problem numbers skip, e.g. %v", dropped, st.Examples[ExampleDropped])
	}
	if !st.Empty() {
		st.publish(ctx)
		emitStats(st)
	}
	fn.stats = Stats{}
	return err
}
