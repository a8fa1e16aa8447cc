package trainer

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// exerciseRows returns n replayed rows of exercise "ex" in batches, and the
// Dataset the trainer makes of them.
func exerciseRows(t *testing.T, n int, seed uint64) ([]RowBatch, *train.Dataset) {
	rows := randomRows(n, seed)
	bs := batches(rows, rand.New(rand.NewPCG(seed, 5)).Perm(n), n/2, n-n/2)
	c := NewCollector(0)
	for _, b := range bs {
		c.Add(&b)
	}
	comps, _ := features.NewComponents(nil)
	d, _, err := c.Dataset(comps)
	if err != nil {
		t.Fatal(err)
	}
	return bs, d
}

func TestFitExercise(t *testing.T) {
	_, d := exerciseRows(t, 600, 7)
	s := train.DefaultSettings()
	p := train.Penalty{L2: train.DefaultL2}

	fixed, err := FitExercise("v", "ex", d, 650, Options{Penalty: p, Settings: s, Workers: 2}, true)
	if err != nil {
		t.Fatal(err)
	}
	if fixed.Thetas.L2 != p.L2 || fixed.KnowledgeL2 != p.L2 || fixed.Baseline == nil || fixed.Baseline.L2 != p.L2 {
		t.Errorf("fixed l2: %+v", fixed)
	}
	want, err := train.Fit(&train.Objective{Data: d, Penalty: p, Share: train.ShareAuto}, s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fixed.Thetas.Thetas, want.Thetas) || fixed.Thetas.RowsSeen != 650 || fixed.Thetas.Rows != 600 {
		t.Errorf("fixed l2: the thetas are not Fit's")
	}
	b := fixed.Baseline.Thetas
	if len(b) != features.NumFeatures || slices.ContainsFunc(b[1+features.NumExerciseFeatures:], func(v float64) bool { return v != 0 }) {
		t.Errorf("baseline thetas %v: want 107 with the KnowledgeState's 0", b)
	}
	if slices.Equal(b, fixed.Thetas.Thetas) {
		t.Errorf("baseline = model")
	}

	auto, err := FitExercise("v", "ex", d, 600, Options{Penalty: p, Settings: s, Workers: 2, AutoL2: DefaultAutoL2()}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("auto: %s", auto.DescribeL2())
	if auto.Thetas.L2 != auto.Head.L2 || auto.KnowledgeL2 != auto.Tail.L2 || auto.Baseline.L2 != auto.Head.L2 || auto.Head.Fits == 0 {
		t.Errorf("auto: l2 %v, knowledge %v, baseline %v; head %+v, tail %+v", auto.Thetas.L2, auto.KnowledgeL2, auto.Baseline.L2, auto.Head, auto.Tail)
	}
	// Random answers: the KnowledgeState is noise and stays out.
	if !math.IsInf(auto.KnowledgeL2, 1) || !slices.Equal(auto.Thetas.Thetas, auto.Baseline.Thetas) {
		t.Errorf("auto: knowledge l2 %v", auto.KnowledgeL2)
	}
	// The record must stay JSON (no +Inf in it).
	if _, err := json.Marshal(auto.Thetas); err != nil {
		t.Error(err)
	}
	// Bit-identical whatever the workers.
	one, err := FitExercise("v", "ex", d, 600, Options{Penalty: p, Settings: s, Workers: 1, AutoL2: DefaultAutoL2()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one.Thetas.Thetas, auto.Thetas.Thetas) || one.Thetas.L2 != auto.Thetas.L2 || one.KnowledgeL2 != auto.KnowledgeL2 {
		t.Errorf("1 worker: %v %v, 2 workers: %v %v", one.Thetas.L2, one.KnowledgeL2, auto.Thetas.L2, auto.KnowledgeL2)
	}
}

// extendedRows returns n extended rows whose answers depend on the first
// ExerciseState feature and, by effect, on the first extra feature.
func extendedRows(n int, effect float64, seed uint64) *train.Dataset {
	r := rand.New(rand.NewPCG(seed, 11))
	dim := features.Extended.Dim()
	d := train.NewDataset(dim, n)
	x := make([]float64, dim)
	for range n {
		x[0] = 1
		for j := 1; j < dim; j++ {
			x[j] = r.NormFloat64()
		}
		z := 0.8*x[1] + effect*x[1+features.NumExerciseFeatures]
		d.Add(x, r.Float64() < 1/(1+math.Exp(-z)))
	}
	return d
}

func TestFitExerciseExtendedRule(t *testing.T) {
	s := train.DefaultSettings()
	for _, effect := range []float64{0, 0.3, 0.4, 1} {
		d := extendedRows(800, effect, 3)
		for _, best := range []bool{false, true} {
			f, err := FitExercise("v", "ex", d, d.Len(), Options{Settings: s, AutoL2: DefaultAutoL2(), ExtendedBest: best}, true)
			if err != nil {
				t.Fatal(err)
			}
			margin := f.Tail.StdErr()
			if best {
				margin = 0
			}
			want := !(f.Tail.Score()-margin > f.Six.Score())
			t.Logf("effect %g, best %v: whole %.4f±%.4f, six %.4f: six features %v", effect, best, f.Tail.Score(), f.Tail.StdErr(), f.Six.Score(), f.SixFeatures)
			if f.SixFeatures != want {
				t.Errorf("effect %g, ExtendedBest %v: SixFeatures %v, want %v", effect, best, f.SixFeatures, want)
			}
			if f.SixFeatures != slices.Equal(f.Thetas.Thetas, f.Baseline.Thetas) {
				t.Errorf("effect %g, ExtendedBest %v: SixFeatures %v, and the model equal to the baseline: %v", effect, best, f.SixFeatures, !f.SixFeatures)
			}
			// A weak extra feature: within a standard error, not worse.
			if effect == 0.4 && f.SixFeatures != !best {
				t.Errorf("effect 0.4, ExtendedBest %v: SixFeatures %v", best, f.SixFeatures)
			}
			if effect == 1 && f.SixFeatures {
				t.Errorf("ExtendedBest %v: a strong extra feature was left out", best)
			}
		}
	}
}
