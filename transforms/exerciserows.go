package transforms

import (
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// ExerciseRows is the trainer's collection of one exercise's rows, for
// tools that train outside a pipeline (kmbench features): it is exactly
// what TrainExercises does with an exercise's RowBatches before the fit.
// The batches may come in any number and order; the Dataset is the same.
type ExerciseRows struct{ c *rowCollector }

// NewExerciseRows returns an empty collection that keeps at most maxRows
// rows (0: all), those TrainOptions.MaxRows keeps.
func NewExerciseRows(maxRows int) *ExerciseRows {
	return &ExerciseRows{c: newRowCollector(maxRows)}
}

// Add adds a batch of the exercise's rows, as the replay emits them.
func (r *ExerciseRows) Add(b *RowBatch) { r.c.add(b) }

// Seen returns the number of rows added, before the cap: the number
// TrainOptions.MinRows is compared with.
func (r *ExerciseRows) Seen() int { return r.c.seen }

// Dataset expands the kept rows into the Dataset TrainExercises fits, in
// its order, with the components of comps. For rows of the extended
// feature set it also returns the problem types' difficulty counts of the
// kept rows (each row's difficulty in the Dataset is the out-of-fold
// estimate, features.DifficultyCounts.OutOfFold; a model predicts with
// features.DifficultyCounts.Table); otherwise nil. Call it once, after the
// last Add.
func (r *ExerciseRows) Dataset(comps *features.Components) (*train.Dataset, *features.DifficultyCounts, error) {
	return r.c.dataset(comps)
}
