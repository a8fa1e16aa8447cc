package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// factoredPair returns the same rows as a factored Dataset and as a dense
// one whose tails hold the sums, added in list order. Rows come in runs of
// one list, and each list extends a prefix of the previous one, as a
// student's KnowledgeState does.
func factoredPair(t *testing.T, n, head, k, tail int, seed uint64) (fact, dense *Dataset) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	basis := make([][]float64, k)
	for i := range basis {
		basis[i] = make([]float64, tail)
		for j := range basis[i] {
			basis[i][j] = rng.NormFloat64() / math.Sqrt(float64(tail))
		}
	}
	fact = NewFactoredDataset(head+tail, basis, n)
	dense = NewDataset(head+tail, n)
	var ids []uint32
	x := make([]float64, head+tail)
	for i := 0; i < n; i++ {
		if i == 0 || rng.IntN(3) == 0 { // a new run
			ids = ids[:rng.IntN(len(ids)+1)]
			for range rng.IntN(4) {
				ids = append(ids, uint32(rng.IntN(k)))
			}
		}
		x[0] = 1
		for j := 1; j < head; j++ {
			x[j] = rng.NormFloat64()
		}
		clear(x[head:])
		for _, id := range ids {
			for j, v := range basis[id] {
				x[head+j] += v
			}
		}
		correct := rng.Float64() < Sigmoid(x[1]-x[head])
		fact.AddSum(x[:head], ids, correct)
		dense.Add(x, correct)
	}
	return fact, dense
}

func TestFactoredDatasetRows(t *testing.T) {
	fact, dense := factoredPair(t, 500, 7, 9, 20, 1)
	if fact.Len() != dense.Len() || fact.Dim() != dense.Dim() {
		t.Fatalf("factored %d×%d, dense %d×%d", fact.Len(), fact.Dim(), dense.Len(), dense.Dim())
	}
	for i := range dense.Len() {
		if !slices.Equal(fact.Row(i), dense.Row(i)) || fact.Correct(i) != dense.Correct(i) {
			t.Fatalf("row %d: factored %v, dense %v", i, fact.Row(i), dense.Row(i))
		}
	}
	for _, n := range []int{1, 7, 12, 27} {
		a, b := fact.Columns(n), dense.Columns(n)
		for i := range b.Len() {
			if !slices.Equal(a.Row(i), b.Row(i)) {
				t.Fatalf("Columns(%d) row %d: %v, want %v", n, i, a.Row(i), b.Row(i))
			}
		}
	}
	if err := fact.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFactoredObjective(t *testing.T) {
	fact, dense := factoredPair(t, 3000, 7, 30, 100, 2)
	for _, tc := range []struct {
		name       string
		l2, tailL2 float64
		tail       int
	}{
		{"one penalty", 1e-3, 0, 0},
		{"tail penalty", 1e-3, 0.1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			theta := randTheta(fact.Dim(), 0.3, 5)
			gf, gd := make([]float64, len(theta)), make([]float64, len(theta))
			of := &Objective{Data: fact, Penalty: Penalty{L2: tc.l2, Tail: tc.tail, TailL2: tc.tailL2}}
			od := &Objective{Data: dense, Penalty: Penalty{L2: tc.l2, Tail: tc.tail, TailL2: tc.tailL2}}
			lf, ld := of.FuncGrad(gf, theta), od.FuncGrad(gd, theta)
			if math.Abs(lf-ld) > 1e-13*math.Abs(ld) {
				t.Errorf("loss %v, dense %v", lf, ld)
			}
			for j := range gd {
				if math.Abs(gf[j]-gd[j]) > 1e-12 {
					t.Errorf("gradient %d: %v, dense %v", j, gf[j], gd[j])
				}
			}
			if f := of.Func(theta); f != lf {
				t.Errorf("Func %v, FuncGrad %v", f, lf)
			}
			// Any number of workers gives the same bits.
			for _, w := range []int{2, 3, 8} {
				g := make([]float64, len(theta))
				o := &Objective{Data: fact, Penalty: Penalty{L2: tc.l2, Tail: tc.tail, TailL2: tc.tailL2}, Workers: w}
				if l := o.FuncGrad(g, theta); l != lf || !slices.Equal(g, gf) {
					t.Errorf("%d workers: loss %v gradient differs from one worker's %v", w, l, lf)
				}
			}
		})
	}
}

func TestFactoredFit(t *testing.T) {
	fact, dense := factoredPair(t, 4000, 7, 25, 40, 3)
	s := DefaultSettings()
	p := Penalty{L2: DefaultL2, Tail: 40, TailL2: 0.01}
	of := &Objective{Data: fact, Penalty: p, Share: ShareAuto}
	od := &Objective{Data: dense, Penalty: p, Share: ShareAuto}
	rf, err := Fit(of, s)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := Fit(od, s)
	if err != nil {
		t.Fatal(err)
	}
	if !rf.Converged() || math.Abs(rf.Loss-rd.Loss) > 1e-10 {
		t.Errorf("factored fit %v loss %.15g, dense %v loss %.15g", rf.Status, rf.Loss, rd.Status, rd.Loss)
	}
	for j := range rd.Thetas {
		if math.Abs(rf.Thetas[j]-rd.Thetas[j]) > 1e-4 {
			t.Errorf("theta %d: %v, dense %v", j, rf.Thetas[j], rd.Thetas[j])
		}
	}

	// Selection groups rows by their list, and views keep them factored.
	sel := L2Selection{Group: 40, Grid: []float64{1, 0.1, 0.01, math.Inf(1)}, Tail: true, Patience: -1}
	cf, err := SelectL2(of, s, sel)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := SelectL2(od, s, sel)
	if err != nil {
		t.Fatal(err)
	}
	if cf.L2 != cd.L2 || cf.Groups != cd.Groups {
		t.Errorf("selection: factored %v in %d groups, dense %v in %d", cf.L2, cf.Groups, cd.L2, cd.Groups)
	}
	for i := range cd.Scores {
		if math.Abs(cf.Scores[i]-cd.Scores[i]) > 1e-7 {
			t.Errorf("score of %v: factored %v, dense %v", cd.Grid[i], cf.Scores[i], cd.Scores[i])
		}
	}
}

func TestFactoredDatasetInvalid(t *testing.T) {
	basis := [][]float64{{1, 0}, {0, math.NaN()}}
	d := NewFactoredDataset(4, basis, 0)
	d.AddSum([]float64{1, 2}, []uint32{0}, true)
	if d.Validate() == nil {
		t.Error("a NaN basis vector passed Validate")
	}
	if _, err := Fit(defaultObjective(d), DefaultSettings()); err == nil {
		t.Error("Fit accepted a NaN basis vector")
	}
	for name, f := range map[string]func(){
		"no basis":     func() { NewFactoredDataset(4, nil, 0) },
		"no head":      func() { NewFactoredDataset(2, [][]float64{{1, 2}}, 0) },
		"ragged basis": func() { NewFactoredDataset(4, [][]float64{{1, 2}, {1}}, 0) },
		"unknown id":   func() { NewFactoredDataset(4, [][]float64{{1, 2}}, 0).AddSum([]float64{1, 2}, []uint32{1}, true) },
		"short head":   func() { NewFactoredDataset(4, [][]float64{{1, 2}}, 0).AddSum([]float64{1}, nil, true) },
		"Add":          func() { NewFactoredDataset(4, [][]float64{{1, 2}}, 0).Add([]float64{1, 2, 3, 4}, true) },
		"AddSum dense": func() { NewDataset(4, 0).AddSum([]float64{1, 2}, nil, true) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestSelect(t *testing.T) {
	fact, dense := factoredPair(t, 300, 7, 9, 20, 4)
	tail := make([]int, 20)
	for j := range tail {
		tail[j] = 7 + j
	}
	for _, tc := range []struct {
		name     string
		cols     []int
		factored bool
	}{
		{"head and tail", append([]int{0, 2, 3}, tail...), true},
		{"reordered head", append([]int{3, 0, 1}, tail...), true},
		{"head only", []int{0, 1, 2, 3, 4, 5, 6}, false},
		{"part of the tail", []int{0, 1, 8, 9}, false},
		{"tail out of order", append([]int{0}, append(tail[1:], tail[0])...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := fact.Select(tc.cols), dense.Select(tc.cols)
			if got := a.tail != nil; got != tc.factored {
				t.Errorf("factored %v, want %v", got, tc.factored)
			}
			if a.Len() != b.Len() || a.Dim() != len(tc.cols) || b.Dim() != len(tc.cols) {
				t.Fatalf("%d×%d and %d×%d, want %d columns", a.Len(), a.Dim(), b.Len(), b.Dim(), len(tc.cols))
			}
			for i := range b.Len() {
				want := make([]float64, len(tc.cols))
				for j, c := range tc.cols {
					want[j] = dense.Row(i)[c]
				}
				if !slices.Equal(a.Row(i), want) || !slices.Equal(b.Row(i), want) || a.Correct(i) != dense.Correct(i) {
					t.Fatalf("row %d: factored %v, dense %v, want %v", i, a.Row(i), b.Row(i), want)
				}
			}
			if tc.factored {
				theta := randTheta(a.Dim(), 0.3, 6)
				ga, gb := make([]float64, len(theta)), make([]float64, len(theta))
				la := (&Objective{Data: a, Penalty: Penalty{L2: 1e-3}}).FuncGrad(ga, theta)
				lb := (&Objective{Data: b, Penalty: Penalty{L2: 1e-3}}).FuncGrad(gb, theta)
				if math.Abs(la-lb) > 1e-13 {
					t.Errorf("loss %v, dense %v", la, lb)
				}
			}
		})
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("AddSum on a selection did not panic")
			}
		}()
		fact.Select(append([]int{0}, tail...)).AddSum([]float64{1}, nil, true)
	}()
}
