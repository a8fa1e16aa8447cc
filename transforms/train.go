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
// thetas. It returns the model.ExerciseThetas of the trained exercises and
// the model.SkippedExercise of the others.
func TrainExercises(s beam.Scope, rows beam.PCollection, opts TrainOptions) (thetas, skipped beam.PCollection) {
	s = s.Scope("TrainExercises")
	grouped := beam.GroupByKey(s, rows)
	return beam.ParDo2(s, &trainFn{Options: opts}, grouped)
}

// trainFn fits one exercise's thetas from its grouped row batches.
type trainFn struct {
	Options TrainOptions
}

func (fn *trainFn) ProcessElement(ctx context.Context, exercise string, batches func(*RowBatch) bool,
	emit func(model.ExerciseThetas), emitSkip func(model.SkippedExercise)) {
	rows, seen := collectRows(batches, fn.Options.MaxRows)
	if seen < fn.Options.MinRows || seen == 0 {
		skippedCounter.Inc(ctx, 1)
		emitSkip(model.SkippedExercise{Exercise: exercise, Rows: seen,
			Reason: fmt.Sprintf("%s: %d < %d", model.SkipTooFewRows, seen, fn.Options.MinRows)})
		return
	}
	res, err := train.Fit(rows, fn.Options.Settings)
	if err != nil {
		skippedCounter.Inc(ctx, 1)
		log.Warnf(ctx, "exercise %s: %v", exercise, err)
		emitSkip(model.SkippedExercise{Exercise: exercise, Rows: seen, Reason: fmt.Sprintf("%s: %v", model.SkipFitFailed, err)})
		return
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
}

var (
	trainedCounter = beam.NewCounter("kmtrain", "exercises_trained")
	skippedCounter = beam.NewCounter("kmtrain", "exercises_skipped")
)

// collectRows gathers an exercise's rows, keeping at most maxRows of them
// (0: all): those with the smallest sample keys, so that memory stays under
// twice the cap and the sample does not depend on arrival order. Rows come
// out sorted by sample key, which makes the fit bit-for-bit reproducible.
func collectRows(batches func(*RowBatch) bool, maxRows int) (*train.Dataset, int) {
	var all RowBatch
	seen := 0
	var b RowBatch
	for batches(&b) {
		seen += b.Len()
		all.Correct = append(all.Correct, b.Correct...)
		all.Sample = append(all.Sample, b.Sample...)
		all.X = append(all.X, b.X...)
		if maxRows > 0 && all.Len() >= 2*maxRows {
			all = smallest(all, maxRows)
		}
	}
	keep := all.Len()
	if maxRows > 0 {
		keep = min(keep, maxRows)
	}
	all = smallest(all, keep)
	d := train.NewDataset(features.NumFeatures, all.Len())
	for i := range all.Correct {
		d.Add(all.X[i*features.NumFeatures:(i+1)*features.NumFeatures], all.Correct[i])
	}
	return d, seen
}

// smallest returns the k rows of b with the smallest sample keys, sorted by
// key (ties by features, then label, so the order is total).
func smallest(b RowBatch, k int) RowBatch {
	const n = features.NumFeatures
	idx := make([]int, b.Len())
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool {
		a, c := idx[i], idx[j]
		if b.Sample[a] != b.Sample[c] {
			return b.Sample[a] < b.Sample[c]
		}
		if d := slices.Compare(b.X[a*n:(a+1)*n], b.X[c*n:(c+1)*n]); d != 0 {
			return d < 0
		}
		return !b.Correct[a] && b.Correct[c]
	})
	idx = idx[:k]
	out := RowBatch{Correct: make([]bool, k), Sample: make([]uint64, k), X: make([]float64, 0, k*n)}
	for i, j := range idx {
		out.Correct[i] = b.Correct[j]
		out.Sample[i] = b.Sample[j]
		out.X = append(out.X, b.X[j*n:(j+1)*n]...)
	}
	return out
}
