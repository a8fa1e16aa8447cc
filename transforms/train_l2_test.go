package transforms

import (
	"fmt"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/train"
	"github.com/kmtrain/knowledgemodel/trainer"
)

func init() {
	beam.RegisterFunction(keyRowBatch)
	beam.RegisterFunction(describeThetas)
	beam.RegisterFunction(keyTiny)
	beam.RegisterFunction(describeSkipped)
}

func keyRowBatch(b trainer.RowBatch) (string, trainer.RowBatch) { return "ex", b }

func describeThetas(t model.ExerciseThetas) string {
	return fmt.Sprint(t.Exercise, " l2=", t.L2, " thetas=", t.Thetas)
}

// exerciseRows returns n replayed rows of exercise "ex" in two batches,
// and the Dataset the trainer makes of them.
func exerciseRows(t *testing.T, n int, seed uint64) ([]trainer.RowBatch, *train.Dataset) {
	rows := testutil.ReplayedRows(n, seed, features.Khan2014)
	bs := make([]trainer.RowBatch, 2)
	c := trainer.NewCollector(0)
	for i := range rows {
		bs[i*2/n].Add(&rows[i])
	}
	for i := range bs {
		c.Add(&bs[i])
	}
	comps, _ := features.NewComponents(nil)
	d, _, err := c.Dataset(comps)
	if err != nil {
		t.Fatal(err)
	}
	return bs, d
}

// TestTrainExercisesAutoL2 runs TrainExercises with AutoL2 on prism: the
// options must survive the DoFn's serialisation, and the thetas be those of
// FitExercise.
func TestTrainExercisesAutoL2(t *testing.T) {
	bs, d := exerciseRows(t, 400, 8)
	s := train.DefaultSettings()
	opts := TrainOptions{Options: trainer.Options{Version: "v", MinRows: 10, Penalty: train.Penalty{L2: train.DefaultL2}, Settings: s, AutoL2: trainer.DefaultAutoL2()}}
	f, err := trainer.FitExercise("v", "ex", d, d.Len(), opts.Options, false)
	if err != nil {
		t.Fatal(err)
	}
	p, sc := beam.NewPipelineWithRoot()
	rows := beam.ParDo(sc, keyRowBatch, beam.CreateList(sc, bs))
	thetas, skipped := TrainExercises(sc, rows, opts)
	passert.Equals(sc, beam.ParDo(sc, describeThetas, thetas), describeThetas(f.Thetas))
	passert.Empty(sc, skipped)
	ptest.RunAndValidate(t, p)
}

func keyTiny(b trainer.RowBatch) (string, trainer.RowBatch) { return "tiny", b }

func describeSkipped(s model.SkippedExercise) string {
	return fmt.Sprintf("%s rows=%d: %s", s.Exercise, s.Rows, s.Reason)
}

// TestTrainExercises runs TrainExercises with a fixed L2 on two exercises:
// one with enough rows, fitted as FitExercise fits it, and one with too few,
// skipped with its count and reason.
func TestTrainExercises(t *testing.T) {
	bs, d := exerciseRows(t, 400, 9)
	tiny, _ := exerciseRows(t, 6, 10)
	opts := TrainOptions{Options: trainer.Options{Version: "v", MinRows: 10, Penalty: train.Penalty{L2: train.DefaultL2}, Settings: train.DefaultSettings()}}
	f, err := trainer.FitExercise("v", "ex", d, d.Len(), opts.Options, false)
	if err != nil {
		t.Fatal(err)
	}
	p, sc := beam.NewPipelineWithRoot()
	rows := beam.Flatten(sc, beam.ParDo(sc, keyRowBatch, beam.CreateList(sc, bs)), beam.ParDo(sc, keyTiny, beam.CreateList(sc, tiny)))
	thetas, skipped := TrainExercises(sc, rows, opts)
	passert.Equals(sc, beam.ParDo(sc, describeThetas, thetas), describeThetas(f.Thetas))
	passert.Equals(sc, beam.ParDo(sc, describeSkipped, skipped), "tiny rows=6: too few rows: 6 < 10")
	ptest.RunAndValidate(t, p)
}
