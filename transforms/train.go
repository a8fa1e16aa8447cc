package transforms

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/train"
)

// TrainOptions configures TrainExercises.
type TrainOptions struct {
	Version string
	// MinRows skips exercises with fewer rows.
	MinRows int
	// MaxRows caps the rows one exercise trains on; the rows kept are those
	// with the smallest SampleKey, the same on any runner. 0: no cap.
	MaxRows  int
	Settings train.Settings
	// AutoL2, if not nil, chooses each exercise's penalties by
	// cross-validation on its rows instead of using Settings.L2 (see
	// FitExercise); DefaultAutoL2 is the selection for --l2=auto.
	AutoL2 *train.L2Selection
	// Baselines also fits each exercise's model without the KnowledgeState
	// (recorded as NoKnowledgeThetas), for the evaluation.
	Baselines bool
	// Components is the components table the replay reused: the rows refer
	// to components by key.
	Components ComponentsSource
}

// DefaultAutoL2 returns the selection of --l2=auto: train.DefaultL2Grid,
// 5 folds, and folds that keep each run of rows with one KnowledgeState (a
// student's consecutive answers on the exercise) together.
func DefaultAutoL2() *train.L2Selection {
	return &train.L2Selection{Group: features.KnowledgeDim}
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
	// Each fit's evaluations then use Options.Settings.Workers / Parallel
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
	rows     *rowCollector

	thetas  model.ExerciseThetas
	skipped *model.SkippedExercise
	failed  bool   // skipped because the fit failed: worth a warning
	l2      string // the l2 selection, with AutoL2
	err     error  // the run fails
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
	opts.Settings.Workers = max(1, opts.Settings.Workers/n)
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

func (fn *trainFn) ProcessElement(ctx context.Context, exercise string, batches func(*RowBatch) bool,
	emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	c := newRowCollector(fn.Options.MaxRows)
	var b RowBatch
	for batches(&b) {
		c.add(&b)
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

// fitOne fits one exercise, on a fitter's goroutine.
func fitOne(j *fitJob, opts TrainOptions, comps *features.Components) {
	c := j.rows
	j.rows = nil
	seen := c.seen
	if seen < opts.MinRows || seen == 0 {
		j.skipped = &model.SkippedExercise{Exercise: j.exercise, Rows: seen,
			Reason: fmt.Sprintf("%s: %d < %d", model.SkipTooFewRows, seen, opts.MinRows)}
		return
	}
	rows, difficulty, err := c.dataset(comps)
	if err != nil {
		j.err = fmt.Errorf("exercise %s: %v", j.exercise, err)
		return
	}
	f, err := FitExercise(opts.Version, j.exercise, rows, seen, opts, opts.Baselines)
	if err != nil {
		j.skipped = &model.SkippedExercise{Exercise: j.exercise, Rows: seen, Reason: fmt.Sprintf("%s: %v", model.SkipFitFailed, err)}
		j.failed = true
		return
	}
	t := f.Thetas
	correct := 0
	for i := range rows.Len() {
		if rows.Correct(i) {
			correct++
		}
	}
	t.CorrectRate = float64(correct) / float64(rows.Len())
	if f.Baseline != nil {
		t.NoKnowledgeThetas = f.Baseline.Thetas[:1+features.NumExerciseFeatures]
	}
	if difficulty != nil {
		t.ProblemTypeDifficulty, t.UnseenProblemTypeDifficulty = difficulty.Table()
	}
	j.thetas = t
	if opts.AutoL2 != nil {
		j.l2 = f.describeL2()
	}
}

// report counts, logs and emits one fit's result, on the DoFn's goroutine.
func (fn *trainFn) report(ctx context.Context, j *fitJob, emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	fn.pending--
	switch {
	case j.err != nil:
		return j.err
	case j.skipped != nil:
		skippedCounter.Inc(ctx, 1)
		if j.failed {
			log.Warnf(ctx, "exercise %s: %s", j.exercise, j.skipped.Reason)
		}
		emitSkip(*j.skipped)
		return nil
	}
	t := j.thetas
	trainedCounter.Inc(ctx, 1)
	log.Infof(ctx, "trained %s: %d rows, %d iterations, %s, loss %.6f, %.2fs",
		t.Exercise, t.Rows, t.Iterations, t.Status, t.Loss, t.TrainingSeconds)
	if j.l2 != "" {
		log.Infof(ctx, "l2 of %s: %s", t.Exercise, j.l2)
	}
	emit(t)
	return nil
}

// ExerciseFit is what FitExercise fitted for one exercise.
type ExerciseFit struct {
	// Thetas is the exercise's model, as TrainExercises emits it. Its L2 is
	// the penalty of the ExerciseState thetas.
	Thetas model.ExerciseThetas
	// KnowledgeL2 is the penalty of the KnowledgeState thetas: Thetas.L2
	// with a fixed L2; with AutoL2 the one chosen, +Inf if the
	// KnowledgeState was left out (its thetas are then 0, and Thetas is
	// the Baseline's model).
	KnowledgeL2 float64
	// Baseline, if asked for, is the "no knowledge" model of the bias and
	// the six ExerciseState features, fitted on the same rows with
	// Thetas.L2; its KnowledgeState thetas are 0, so it predicts from whole
	// rows like any model.
	Baseline *model.ExerciseThetas
	// Head and Tail are the selections of the two penalties, with AutoL2
	// (train.FitAuto).
	Head, Tail train.L2Choice
}

// FitExercise fits one exercise's rows (seen: how many there were before
// the row cap) as TrainExercises does, and with baseline also the
// 6-feature model without the KnowledgeState.
//
// With opts.AutoL2 nil it fits with opts.Settings; the baseline costs one
// more fit on 7 of the 107 columns. Otherwise the penalties are chosen per
// exercise by train.FitAuto with opts.AutoL2: first the L2 of the
// 6-feature model by cross-validation, then, with that L2 on the
// ExerciseState thetas, the KnowledgeState's own penalty, +Inf (left out)
// unless some value does better in validation by more than a standard
// error. The baseline is then a by-product, and TrainingSeconds covers
// the selection too.
//
// Per exercise rather than one value for all: the best penalty falls
// roughly as 1/rows (it is a prior's precision divided by the number of
// rows), and exercises range from 100 to 200,000 rows; on ASSISTments 2009
// the chosen L2 of the ExerciseState spans 1e-6 to 1.
func FitExercise(version, exercise string, rows *train.Dataset, seen int, opts TrainOptions, baseline bool) (ExerciseFit, error) {
	start := time.Now()
	s := opts.Settings
	var f ExerciseFit
	var res, base train.Result
	var err error
	if opts.AutoL2 == nil {
		if res, err = train.Fit(rows, s); err != nil {
			return f, err
		}
		f.KnowledgeL2 = s.L2
		if s.Tail > 0 {
			f.KnowledgeL2 = s.TailL2
		}
		if baseline {
			b := s
			b.Tail, b.TailL2 = features.KnowledgeDim, math.Inf(1)
			if base, err = train.Fit(rows, b); err != nil {
				return f, fmt.Errorf("baseline: %w", err)
			}
		}
	} else {
		s.Tail = features.KnowledgeDim
		a, err := train.FitAuto(rows, s, *opts.AutoL2)
		if err != nil {
			return f, err
		}
		res, base = a.Result, a.Baseline
		s.L2, f.KnowledgeL2, f.Head, f.Tail = a.Head.L2, a.Tail.L2, a.Head, a.Tail
	}
	thetas := func(r train.Result, seconds float64) model.ExerciseThetas {
		return model.ExerciseThetas{
			Version:         version,
			Exercise:        exercise,
			Thetas:          r.Thetas,
			Rows:            rows.Len(),
			RowsSeen:        seen,
			Iterations:      r.Iterations,
			Evaluations:     r.Evaluations,
			Converged:       r.Converged(),
			Status:          r.Status.String(),
			Loss:            r.Loss,
			L2:              s.L2,
			TrainingSeconds: seconds,
		}
	}
	seconds := res.Duration.Seconds()
	if opts.AutoL2 != nil {
		seconds = time.Since(start).Seconds()
	}
	if baseline && rows.Dim() > features.NumFeatures {
		// The extended features sit between the ExerciseState and the
		// KnowledgeState: the 6-feature model is fitted on its own columns,
		// with the ExerciseState's L2.
		b := s
		b.Tail, b.TailL2 = 0, 0
		if base, err = train.Fit(rows.Columns(1+features.NumExerciseFeatures), b); err != nil {
			return f, fmt.Errorf("baseline: %w", err)
		}
	}
	f.Thetas = thetas(res, seconds)
	if baseline {
		b := thetas(base, base.Duration.Seconds())
		f.Baseline = &b
	}
	return f, nil
}

// describeL2 says what the selection chose and why, for the log.
func (f *ExerciseFit) describeL2() string {
	var b strings.Builder
	for _, c := range []struct {
		what string
		c    train.L2Choice
	}{{"l2", f.Head}, {"knowledge_l2", f.Tail}} {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %g", c.what, c.c.L2)
		if c.c.Fallback != "" {
			fmt.Fprintf(&b, " (%s)", c.c.Fallback)
			continue
		}
		fmt.Fprintf(&b, " (%d fold fits, %.2fs; held-out log-likelihood per row:", c.c.Fits, c.c.Duration.Seconds())
		for i, v := range c.c.Scores {
			if !math.IsNaN(v) {
				fmt.Fprintf(&b, " %g:%.4f", c.c.Grid[i], v)
			}
		}
		b.WriteString(")")
	}
	return b.String()
}

var (
	trainedCounter = beam.NewCounter("kmtrain", "exercises_trained")
	skippedCounter = beam.NewCounter("kmtrain", "exercises_skipped")
)

// compactRow is a row as the trainer keeps it until the fit.
type compactRow struct {
	sample    uint64
	history   uint32
	correct   bool
	knowledge []uint32 // ids into rowCollector.keys

	// Extended rows only.
	problemType uint32    // id into rowCollector.types
	fold        uint8     // features.UserFold of the student
	extras      []float64 // features.Row.Extras
}

// rowCollector gathers an exercise's rows, keeping at most maxRows of them
// (0: all): those with the smallest sample keys, so that memory stays under
// twice the cap and the sample does not depend on arrival order.
type rowCollector struct {
	maxRows int
	seen    int
	rows    []compactRow
	keys    interner[features.ComponentKey]

	extended bool // the rows are of the extended feature set
	types    interner[string]
}

// interner numbers distinct values densely, in the order first seen.
type interner[T comparable] struct {
	values []T
	ids    map[T]uint32
}

// id returns v's number, giving it the next one if it is new.
func (in *interner[T]) id(v T) uint32 {
	id, ok := in.ids[v]
	if !ok {
		if in.ids == nil {
			in.ids = map[T]uint32{}
		}
		id = uint32(len(in.values))
		in.ids[v] = id
		in.values = append(in.values, v)
	}
	return id
}

func newRowCollector(maxRows int) *rowCollector {
	return &rowCollector{maxRows: maxRows}
}

func (c *rowCollector) add(b *RowBatch) {
	remap := make([]uint32, len(b.Keys))
	for i, k := range b.Keys {
		remap[i] = c.keys.id(k)
	}
	ids := make([]uint32, len(b.KnowledgeIDs))
	for i, id := range b.KnowledgeIDs {
		ids[i] = remap[id]
	}
	var typeRemap []uint32
	if b.Extended {
		c.extended = true
		for _, t := range b.ProblemTypes {
			typeRemap = append(typeRemap, c.types.id(t))
		}
	}
	start := uint32(0)
	for i := range b.Correct {
		end := b.KnowledgeEnd[i]
		r := compactRow{sample: b.Sample[i], history: b.History[i], correct: b.Correct[i], knowledge: ids[start:end:end]}
		if b.Extended {
			r.problemType, r.fold, r.extras = typeRemap[b.ProblemType[i]], b.Fold[i], b.RowExtras(i)
		}
		c.rows = append(c.rows, r)
		start = end
	}
	c.seen += b.Len()
	if c.maxRows > 0 && len(c.rows) >= 2*c.maxRows {
		c.keep(c.maxRows)
	}
}

// keep keeps the k rows with the smallest sample keys (ties by content, so
// the choice is the same on any runner).
func (c *rowCollector) keep(k int) {
	if k >= len(c.rows) {
		return
	}
	slices.SortFunc(c.rows, func(a, b compactRow) int { return c.compare(&a, &b) })
	clear(c.rows[k:])
	c.rows = c.rows[:k]
}

// compare orders rows by sample key, ties by content: the order is total.
func (c *rowCollector) compare(a, b *compactRow) int {
	if d := cmp.Compare(a.sample, b.sample); d != 0 {
		return d
	}
	if d := cmp.Compare(a.history, b.history); d != 0 {
		return d
	}
	if a.correct != b.correct {
		if a.correct {
			return 1
		}
		return -1
	}
	return slices.CompareFunc(a.knowledge, b.knowledge, func(x, y uint32) int { return compareKeys(c.keys.values[x], c.keys.values[y]) })
}

func compareKeys(a, b features.ComponentKey) int {
	if d := cmp.Compare(a.Exercise, b.Exercise); d != 0 {
		return d
	}
	if d := cmp.Compare(a.ProblemType, b.ProblemType); d != 0 {
		return d
	}
	switch {
	case a.Correct == b.Correct:
		return 0
	case a.Correct:
		return 1
	}
	return -1
}

// dataset expands the kept rows into the features the fit uses, the
// KnowledgeState as the list of its components (train.NewFactoredDataset);
// with the extended features it also counts the problem types' difficulty
// and gives each row the estimate without its own fold of students. The
// rows are ordered by their KnowledgeState's components, then by sample
// key: a total order on their content, so the fit is reproducible bit for
// bit, and rows with the same KnowledgeState (a student's rows on one
// exercise, mostly) are adjacent, as are lists that share a prefix.
func (c *rowCollector) dataset(comps *features.Components) (*train.Dataset, *features.DifficultyCounts, error) {
	keep := len(c.rows)
	if c.maxRows > 0 {
		keep = min(keep, c.maxRows)
	}
	c.keep(keep)
	// Compare component ids by rank: the order of their keys, whatever order
	// the ids were given in.
	order := make([]uint32, len(c.keys.values))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return compareKeys(c.keys.values[a], c.keys.values[b]) })
	rank := make([]uint32, len(c.keys.values))
	for r, id := range order {
		rank[id] = uint32(r)
	}
	byRank := func(x, y uint32) int { return cmp.Compare(rank[x], rank[y]) }
	slices.SortFunc(c.rows, func(a, b compactRow) int {
		if d := slices.CompareFunc(a.knowledge, b.knowledge, byRank); d != 0 {
			return d
		}
		return c.compare(&a, &b)
	})

	// The basis vectors in the order of their keys, whatever order the ids
	// were given in: the fit sums over them in that order.
	vectors := make([][]float64, len(order))
	for r, id := range order {
		vectors[r] = comps.Vector(c.keys.values[id])
	}
	set := features.Khan2014
	var counts *features.DifficultyCounts
	if c.extended {
		set = features.Extended
		counts = &features.DifficultyCounts{}
		for _, r := range c.rows {
			counts.Add(c.types.values[r.problemType], r.fold, r.correct)
		}
	}
	dim := set.Dim()
	head := dim - features.KnowledgeDim
	var d *train.Dataset
	if factorKnowledge(c.rows, len(vectors)) {
		d = train.NewFactoredDataset(dim, vectors, len(c.rows))
	} else {
		d = train.NewDataset(dim, len(c.rows))
	}
	x := make([]float64, dim)
	var ranks []uint32
	var ks features.KnowledgeState
	for i, r := range c.rows {
		h, err := features.UnpackExerciseState(r.history)
		if err != nil {
			return nil, nil, err
		}
		difficulty := 0.0
		if counts != nil {
			difficulty = counts.OutOfFold(c.types.values[r.problemType], r.fold)
		}
		set.Expand(&h, difficulty, r.extras, nil, x)
		if d.Factored() {
			ranks = ranks[:0]
			for _, id := range r.knowledge {
				ranks = append(ranks, rank[id])
			}
			d.AddSum(x[:head], ranks, r.correct)
			continue
		}
		// The sum of the row's components, as Expand would add them, once
		// per run of rows with one KnowledgeState.
		if i == 0 || !slices.Equal(r.knowledge, c.rows[i-1].knowledge) {
			ks = features.KnowledgeState{}
			for _, id := range r.knowledge {
				ks.Add(vectors[rank[id]])
			}
		}
		copy(x[head:], ks[:])
		d.Add(x, r.correct)
	}
	return d, counts, nil
}

// factorKnowledge reports whether the fit of sorted rows whose
// KnowledgeStates sum some of k components is cheaper with the
// KnowledgeState factored (train.NewFactoredDataset) than with its sums.
// An evaluation with the sums takes θ's product with each run's sum (2·100
// multiply-adds, forward and back); factored, with each component, plus
// three passes over the nodes of the rows' trie of component lists (one
// per component a run adds to the previous run's list), whose dependent
// loads cost about as much as nodeCost multiply-adds each (measured on
// ASSISTments and synthetic data). Few components shared by many students
// (the synthetic data, Khan's exercises) favour the factors; students who
// start many components between two runs (ASSISTments), the sums.
func factorKnowledge(rows []compactRow, k int) bool {
	const nodeCost = 48
	if k == 0 {
		return false
	}
	runs, nodes := 0, 0
	for i, r := range rows {
		if i > 0 && slices.Equal(r.knowledge, rows[i-1].knowledge) {
			continue
		}
		runs++
		p := 0
		if i > 0 {
			prev := rows[i-1].knowledge
			for p < len(prev) && p < len(r.knowledge) && prev[p] == r.knowledge[p] {
				p++
			}
		}
		nodes += len(r.knowledge) - p
	}
	return 2*k*features.KnowledgeDim+nodeCost*nodes < 2*runs*features.KnowledgeDim
}
