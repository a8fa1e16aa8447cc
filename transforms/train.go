package transforms

import (
	"context"
	"fmt"
	"slices"
	"sort"

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
		var table []features.Component
		var c features.Component
		for components(&c) {
			table = append(table, c)
		}
		var err error
		if fn.components, err = features.NewComponents(table); err != nil {
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

// keep sorts the rows by sample key (ties by content, so the order is total
// and the same on any runner) and keeps the first k.
func (c *rowCollector) keep(k int) {
	sort.Slice(c.rows, func(i, j int) bool { return c.less(&c.rows[i], &c.rows[j]) })
	if k < len(c.rows) {
		clear(c.rows[k:])
		c.rows = c.rows[:k]
	}
}

func (c *rowCollector) less(a, b *compactRow) bool {
	if a.sample != b.sample {
		return a.sample < b.sample
	}
	if a.history != b.history {
		return a.history < b.history
	}
	if a.correct != b.correct {
		return !a.correct
	}
	return slices.CompareFunc(a.knowledge, b.knowledge, func(x, y uint32) int {
		kx, ky := c.keys[x], c.keys[y]
		if kx == ky {
			return 0
		}
		if lessKey(kx, ky) {
			return -1
		}
		return 1
	}) < 0
}

// dataset expands the kept rows, sorted by sample key, into the features
// the fit uses. Sorting makes the fit reproducible bit for bit.
func (c *rowCollector) dataset(comps *features.Components) (*train.Dataset, error) {
	keep := len(c.rows)
	if c.maxRows > 0 {
		keep = min(keep, c.maxRows)
	}
	c.keep(keep)
	vectors := make([][]float64, len(c.keys))
	for i, k := range c.keys {
		vectors[i] = comps.Vector(k)
	}
	d := train.NewDataset(features.NumFeatures, len(c.rows))
	var x [features.NumFeatures]float64
	var vs [][]float64
	for _, r := range c.rows {
		h, err := features.UnpackExerciseState(r.history)
		if err != nil {
			return nil, err
		}
		vs = vs[:0]
		for _, id := range r.knowledge {
			vs = append(vs, vectors[id])
		}
		features.ExpandFeatures(&h, vs, &x)
		d.Add(x[:], r.correct)
	}
	return d, nil
}
