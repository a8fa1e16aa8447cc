package transforms

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
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
}

// TrainExercises groups row batches per exercise and fits each exercise's
// thetas. Components (features.Component) is the table the replay reused:
// the rows refer to components by key. It returns the model.ExerciseThetas
// of the trained exercises and the model.SkippedExercise of the others.
func TrainExercises(s beam.Scope, rows, components beam.PCollection, opts TrainOptions) (thetas, skipped beam.PCollection) {
	s = s.Scope("TrainExercises")
	grouped := beam.GroupByKey(s, rows)
	return beam.ParDo2(s, &trainFn{Options: opts}, grouped, beam.SideInput{Input: components})
}

// trainFn fits one exercise's thetas from its grouped row batches.
type trainFn struct {
	Options TrainOptions

	components *features.Components // the side input, cached: it is global
}

func (fn *trainFn) ProcessElement(ctx context.Context, exercise string, batches func(*RowBatch) bool,
	components func(*features.Component) bool,
	emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) error {
	if fn.components == nil {
		var err error
		if fn.components, err = componentsTable(components); err != nil {
			return err
		}
	}
	c := newRowCollector(fn.Options.MaxRows)
	var b RowBatch
	for batches(&b) {
		c.add(&b)
	}
	seen := c.seen
	if seen < fn.Options.MinRows || seen == 0 {
		skippedCounter.Inc(ctx, 1)
		emitSkip(model.SkippedExercise{Exercise: exercise, Rows: seen,
			Reason: fmt.Sprintf("%s: %d < %d", model.SkipTooFewRows, seen, fn.Options.MinRows)})
		return nil
	}
	rows, err := c.dataset(fn.components)
	if err != nil {
		return fmt.Errorf("exercise %s: %v", exercise, err)
	}
	res, err := train.Fit(rows, fn.Options.Settings)
	if err != nil {
		skippedCounter.Inc(ctx, 1)
		log.Warnf(ctx, "exercise %s: %v", exercise, err)
		emitSkip(model.SkippedExercise{Exercise: exercise, Rows: seen, Reason: fmt.Sprintf("%s: %v", model.SkipFitFailed, err)})
		return nil
	}
	trainedCounter.Inc(ctx, 1)
	log.Infof(ctx, "trained %s: %d rows, %d iterations, %s, loss %.6f, %.2fs",
		exercise, rows.Len(), res.Iterations, res.Status, res.Loss, res.Duration.Seconds())
	emit(model.ExerciseThetas{
		Version:         fn.Options.Version,
		Exercise:        exercise,
		Thetas:          res.Thetas,
		Rows:            rows.Len(),
		RowsSeen:        seen,
		Iterations:      res.Iterations,
		Evaluations:     res.Evaluations,
		Converged:       res.Converged(),
		Status:          res.Status.String(),
		Loss:            res.Loss,
		TrainingSeconds: res.Duration.Seconds(),
	})
	return nil
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
}

// rowCollector gathers an exercise's rows, keeping at most maxRows of them
// (0: all): those with the smallest sample keys, so that memory stays under
// twice the cap and the sample does not depend on arrival order.
type rowCollector struct {
	maxRows int
	seen    int
	rows    []compactRow
	keys    []features.ComponentKey
	ids     map[features.ComponentKey]uint32
}

func newRowCollector(maxRows int) *rowCollector {
	return &rowCollector{maxRows: maxRows, ids: map[features.ComponentKey]uint32{}}
}

func (c *rowCollector) add(b *RowBatch) {
	remap := make([]uint32, len(b.Keys))
	for i, k := range b.Keys {
		id, ok := c.ids[k]
		if !ok {
			id = uint32(len(c.keys))
			c.ids[k] = id
			c.keys = append(c.keys, k)
		}
		remap[i] = id
	}
	ids := make([]uint32, len(b.KnowledgeIDs))
	for i, id := range b.KnowledgeIDs {
		ids[i] = remap[id]
	}
	start := uint32(0)
	for i := range b.Correct {
		end := b.KnowledgeEnd[i]
		c.rows = append(c.rows, compactRow{b.Sample[i], b.History[i], b.Correct[i], ids[start:end:end]})
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
	return slices.CompareFunc(a.knowledge, b.knowledge, func(x, y uint32) int { return compareKeys(c.keys[x], c.keys[y]) })
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

// dataset expands the kept rows into the features the fit uses. The rows
// are ordered by their KnowledgeState's components, then by sample key: a
// total order on their content, so the fit is reproducible bit for bit, and
// rows with the same KnowledgeState (a student's rows on one exercise,
// mostly) are adjacent, which the trainer exploits (train.Settings.Share)
// and which lets the expansion reuse the previous row's sum.
func (c *rowCollector) dataset(comps *features.Components) (*train.Dataset, error) {
	keep := len(c.rows)
	if c.maxRows > 0 {
		keep = min(keep, c.maxRows)
	}
	c.keep(keep)
	// Compare component ids by rank: the order of their keys, whatever order
	// the ids were given in.
	order := make([]uint32, len(c.keys))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return compareKeys(c.keys[a], c.keys[b]) })
	rank := make([]uint32, len(c.keys))
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

	vectors := make([][]float64, len(c.keys))
	for i, k := range c.keys {
		vectors[i] = comps.Vector(k)
	}
	d := train.NewDataset(features.NumFeatures, len(c.rows))
	var x [features.NumFeatures]float64
	var vs [][]float64
	for i, r := range c.rows {
		h, err := features.UnpackExerciseState(r.history)
		if err != nil {
			return nil, err
		}
		if i > 0 && slices.Equal(r.knowledge, c.rows[i-1].knowledge) {
			// Same KnowledgeState as the previous row: only the
			// ExerciseState features change.
			h.Features(x[1 : 1+features.NumExerciseFeatures])
		} else {
			vs = vs[:0]
			for _, id := range r.knowledge {
				vs = append(vs, vectors[id])
			}
			features.ExpandFeatures(&h, vs, &x)
		}
		d.Add(x[:], r.correct)
	}
	return d, nil
}
