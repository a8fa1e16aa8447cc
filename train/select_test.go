package train

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestObjectiveTailPenalty(t *testing.T) {
	d := randData(700, 13, 4)
	th := randTheta(13, 0.4, 5)
	const l2, tailL2, tail = 0.02, 0.7, 5
	o := &Objective{Data: d, Penalty: Penalty{L2: l2, Tail: tail, TailL2: tailL2}}
	g := make([]float64, 13)
	f := o.FuncGrad(g, th)
	// The naive loss with L2 everywhere, corrected on the tail.
	wantF, wantG := naiveLoss(d, l2, th)
	for j := 13 - tail; j < 13; j++ {
		wantF += 0.5 * (tailL2 - l2) * th[j] * th[j]
		wantG[j] += (tailL2 - l2) * th[j]
	}
	if math.Abs(f-wantF) > 1e-12 {
		t.Errorf("loss %v, want %v", f, wantF)
	}
	for j := range g {
		if math.Abs(g[j]-wantG[j]) > 1e-12 {
			t.Errorf("grad[%d] = %v, want %v", j, g[j], wantG[j])
		}
	}
	// Tail with TailL2 = L2 is no tail at all (up to the order of a sum).
	o0 := &Objective{Data: d, Penalty: Penalty{L2: l2}}
	o.TailL2 = l2
	if a, b := o.Func(th), o0.Func(th); math.Abs(a-b) > 1e-15 {
		t.Errorf("Tail with TailL2 = L2: %v, without: %v", a, b)
	}
}

func TestColumns(t *testing.T) {
	d := randData(50, 9, 1)
	c := d.Columns(4)
	if c.Len() != 50 || c.Dim() != 4 {
		t.Fatalf("Columns(4): %d rows of %d", c.Len(), c.Dim())
	}
	for i := range 50 {
		if !slices.Equal(c.Row(i), d.Row(i)[:4]) || c.Correct(i) != d.Correct(i) {
			t.Fatalf("row %d differs", i)
		}
	}
	for _, n := range []int{0, 10} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Columns(%d) did not panic", n)
				}
			}()
			d.Columns(n)
		}()
	}
}

// TestFitTailInf checks that TailL2 = +Inf fits the model without the tail
// and reports zeros for its thetas.
func TestFitTailInf(t *testing.T) {
	d := runData(2000, 20, 12, 4, 6)
	o := defaultObjective(d)
	o.Tail, o.TailL2 = 12, math.Inf(1)
	got, err := Fit(o, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	want, err := Fit(defaultObjective(d.Columns(8)), DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Thetas) != 20 || !slices.Equal(got.Thetas[:8], want.Thetas) || slices.ContainsFunc(got.Thetas[8:], func(v float64) bool { return v != 0 }) {
		t.Errorf("thetas %v, want %v and zeros", got.Thetas, want.Thetas)
	}
	if got.Loss != want.Loss {
		t.Errorf("loss %v, want %v", got.Loss, want.Loss)
	}
	for _, bad := range []Penalty{{Tail: 20}, {Tail: -1}, {Tail: 3, TailL2: -1}, {Tail: 3, TailL2: math.NaN()}} {
		if _, err := Fit(&Objective{Data: d, Penalty: bad}, DefaultSettings()); err == nil {
			t.Errorf("Fit with Tail %d, TailL2 %v: no error", bad.Tail, bad.TailL2)
		}
	}
}

// noisyData returns n rows of dimension dim (features N(0,1)) whose labels
// are drawn from thetas scale·(1, 1, ...), bias 0.
func noisyData(n, dim int, scale float64, seed uint64) *Dataset {
	th := make([]float64, dim)
	for j := 1; j < dim; j++ {
		th[j] = scale
	}
	return plantedData(th, n, seed)
}

func TestSelectL2SmallNoisyVsLargeClean(t *testing.T) {
	s := DefaultSettings()
	small, err := SelectL2(defaultObjective(noisyData(150, 40, 0.05, 1)), s, L2Selection{})
	if err != nil {
		t.Fatal(err)
	}
	large, err := SelectL2(defaultObjective(noisyData(20000, 10, 1, 2)), s, L2Selection{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("small noisy: l2 %g, scores %v", small.L2, small.Scores)
	t.Logf("large clean: l2 %g, scores %v", large.L2, large.Scores)
	if small.Fallback != "" || large.Fallback != "" {
		t.Fatalf("fallback: %q, %q", small.Fallback, large.Fallback)
	}
	if !(small.L2 >= 0.1 && large.L2 <= 1e-3) {
		t.Errorf("small noisy dataset chose l2 %g (want ≥ 0.1), large clean one %g (want ≤ 1e-3)", small.L2, large.L2)
	}
	// Both searches stop once the score falls: the small one's best is near
	// the top, so it leaves most of the grid untried.
	if !math.IsNaN(small.Scores[len(small.Scores)-1]) {
		t.Errorf("small noisy dataset: the whole grid was scored: %v", small.Scores)
	}
}

func TestSelectL2Deterministic(t *testing.T) {
	d := runData(3000, 30, 20, 4, 7)
	var first L2Choice
	var firstFit Result
	var firstAuto AutoFit
	for i, w := range []int{1, 2, 4, 7} {
		s, o := DefaultSettings(), defaultObjective(d)
		o.Workers = w
		sel := L2Selection{Group: 20, Patience: -1}
		c, err := SelectL2(o, s, sel)
		if err != nil {
			t.Fatal(err)
		}
		r, c2, err := FitAutoL2(o, s, sel)
		if err != nil {
			t.Fatal(err)
		}
		o.Tail = 20
		a, err := FitAuto(o, s, sel)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first, firstFit, firstAuto = c, r, a
			continue
		}
		same := func(a, b L2Choice) bool {
			eq := func(x, y []float64) bool {
				return slices.EqualFunc(x, y, func(u, v float64) bool { return u == v || (math.IsNaN(u) && math.IsNaN(v)) })
			}
			return a.L2 == b.L2 && eq(a.Scores, b.Scores) && eq(a.StdErrs, b.StdErrs) && a.Fits == b.Fits &&
				a.Evaluations == b.Evaluations && a.Groups == b.Groups
		}
		if !same(c, first) || !same(c2, first) {
			t.Errorf("workers %d: choice %+v, with 1 worker %+v", w, c, first)
		}
		if !slices.Equal(r.Thetas, firstFit.Thetas) || r.Loss != firstFit.Loss {
			t.Errorf("workers %d: FitAutoL2 differs", w)
		}
		if !same(a.Head, firstAuto.Head) || !same(a.Tail, firstAuto.Tail) ||
			!slices.Equal(a.Result.Thetas, firstAuto.Result.Thetas) || !slices.Equal(a.Baseline.Thetas, firstAuto.Baseline.Thetas) {
			t.Errorf("workers %d: FitAuto differs", w)
		}
	}
	// FitAutoL2 is Fit with the chosen value.
	o := defaultObjective(d)
	o.L2 = first.L2
	r, err := Fit(o, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Thetas, firstFit.Thetas) {
		t.Errorf("FitAutoL2 differs from Fit with l2 %g", first.L2)
	}
}

func TestSelectL2Fallback(t *testing.T) {
	s := DefaultSettings()
	for _, tc := range []struct {
		name string
		d    *Dataset
		sel  L2Selection
	}{
		{"49 rows", noisyData(49, 5, 0.5, 1), L2Selection{}},
		{"3 groups", runData(400, 10, 5, 1000, 2), L2Selection{Group: 5}},
		{"MinFoldRows", noisyData(400, 5, 0.5, 1), L2Selection{MinFoldRows: 81}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := tc.sel
			sel.Grid = []float64{0.01, 3, 0.1}
			c, err := SelectL2(defaultObjective(tc.d), s, sel)
			if err != nil {
				t.Fatal(err)
			}
			if c.Fallback == "" || c.L2 != 3 || c.Fits != 0 || !math.IsNaN(c.Scores[0]) {
				t.Errorf("got %+v, want a fallback to 3", c)
			}
			t.Log(c.Fallback)
		})
	}
	// 50 rows make 5 folds of 10: validated.
	c, err := SelectL2(defaultObjective(noisyData(50, 5, 0.5, 1)), s, L2Selection{})
	if err != nil || c.Fallback != "" || c.Fits == 0 {
		t.Errorf("50 rows: %+v, %v", c, err)
	}
	// FitAuto on a tiny dataset falls back to the largest L2 without the
	// tail: the 6-feature model, strongly regularised.
	o := defaultObjective(noisyData(30, 5, 0.5, 1))
	o.Tail = 2
	a, err := FitAuto(o, s, L2Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Head.L2 != 1 || !math.IsInf(a.Tail.L2, 1) || a.Head.Fallback == "" || a.Tail.Fallback == "" {
		t.Errorf("FitAuto on 30 rows: head %+v, tail %+v", a.Head, a.Tail)
	}
}

func TestSelectL2GridOrder(t *testing.T) {
	d := noisyData(600, 8, 0.3, 3)
	s := DefaultSettings()
	var first L2Choice
	for i, g := range [][]float64{{1, 0.1, 0.01, 1e-3}, {1e-3, 0.01, 0.1, 1}, {0.1, 1e-3, 1, 0.01}} {
		c, err := SelectL2(defaultObjective(d), s, L2Selection{Grid: g, Patience: -1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Grid, []float64{1, 0.1, 0.01, 1e-3}) {
			t.Errorf("grid %v: tried in order %v", g, c.Grid)
		}
		if i == 0 {
			first = c
		} else if c.L2 != first.L2 || !slices.Equal(c.Scores, first.Scores) {
			t.Errorf("grid %v: %v %v, want %v %v", g, c.L2, c.Scores, first.L2, first.Scores)
		}
	}
	if !slices.Equal(DefaultL2Grid(), []float64{1, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6}) {
		t.Errorf("DefaultL2Grid = %v", DefaultL2Grid())
	}
}

func TestSelectL2OneStdErrAndPatience(t *testing.T) {
	d := noisyData(1500, 30, 0.1, 4)
	s := DefaultSettings()
	full, err := SelectL2(defaultObjective(d), s, L2Selection{Patience: -1})
	if err != nil {
		t.Fatal(err)
	}
	early, err := SelectL2(defaultObjective(d), s, L2Selection{})
	if err != nil {
		t.Fatal(err)
	}
	se, err := SelectL2(defaultObjective(d), s, L2Selection{Patience: -1, OneStdErr: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scores %v ± %v: best %g, one-SE %g; early stop after %d fits of %d", full.Scores, full.StdErrs, full.L2, se.L2, early.Fits, full.Fits)
	if slices.ContainsFunc(full.Scores, math.IsNaN) {
		t.Errorf("Patience -1 left values unscored: %v", full.Scores)
	}
	best := slices.Index(full.Grid, full.L2)
	if full.Scores[best] != slices.Max(full.Scores) {
		t.Errorf("chose %g, not the best score", full.L2)
	}
	if early.L2 != full.L2 || early.Fits >= full.Fits {
		t.Errorf("early stop: l2 %g after %d fits; whole grid: %g after %d", early.L2, early.Fits, full.L2, full.Fits)
	}
	i := slices.Index(se.Grid, se.L2)
	if se.L2 < full.L2 || se.Scores[i] < full.Scores[best]-full.StdErrs[best] {
		t.Errorf("one-SE rule chose %g (score %v), best %g (%v ± %v)", se.L2, se.Scores[i], full.L2, full.Scores[best], full.StdErrs[best])
	}
	for j := range i {
		if se.Scores[j] >= full.Scores[best]-full.StdErrs[best] {
			t.Errorf("one-SE rule passed over %g", se.Grid[j])
		}
	}
}

// TestFitAuto checks that the tail enters the model when it carries the
// signal and stays out when it is noise.
func TestFitAuto(t *testing.T) {
	const dim, tail = 20, 12
	gen := func(n int, tailScale float64, seed uint64) *Dataset {
		th := make([]float64, dim)
		for j := 1; j < dim-tail; j++ {
			th[j] = 0.8
		}
		for j := dim - tail; j < dim; j++ {
			th[j] = tailScale
		}
		return plantedData(th, n, seed)
	}
	s := DefaultSettings()
	for _, tc := range []struct {
		name       string
		d          *Dataset
		wantInTail bool
	}{
		{"tail is noise", gen(800, 0, 1), false},
		{"tail carries signal", gen(5000, 0.5, 2), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultObjective(tc.d)
			o.Tail = tail
			a, err := FitAuto(o, s, L2Selection{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("head l2 %g %v; tail l2 %g %v", a.Head.L2, a.Head.Scores, a.Tail.L2, a.Tail.Scores)
			in := !math.IsInf(a.Tail.L2, 1)
			if in != tc.wantInTail {
				t.Fatalf("tail l2 %g", a.Tail.L2)
			}
			// The baseline is Fit without the tail at the head's L2.
			b := defaultObjective(tc.d)
			b.Tail, b.L2, b.TailL2 = tail, a.Head.L2, math.Inf(1)
			r, err := Fit(b, s)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Thetas, a.Baseline.Thetas) {
				t.Errorf("baseline differs from Fit without the tail")
			}
			// The result is Fit with both choices.
			b.TailL2 = a.Tail.L2
			if r, err = Fit(b, s); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Thetas, a.Result.Thetas) {
				t.Errorf("result differs from Fit with l2 %g, tail l2 %g", a.Head.L2, a.Tail.L2)
			}
		})
	}
	if _, err := FitAuto(defaultObjective(gen(100, 0, 1)), DefaultSettings(), L2Selection{}); err == nil {
		t.Error("FitAuto without Penalty.Tail: no error")
	}
}

func TestSelectL2Invalid(t *testing.T) {
	d := noisyData(200, 5, 0.5, 1)
	s := DefaultSettings()
	for _, tc := range []struct {
		name string
		d    *Dataset
		s    Settings
		sel  L2Selection
		want string
	}{
		{"duplicate", d, s, L2Selection{Grid: []float64{1, 0.1, 1}}, "twice"},
		{"negative", d, s, L2Selection{Grid: []float64{1, -0.1}}, "invalid L2"},
		{"NaN", d, s, L2Selection{Grid: []float64{math.NaN()}}, "invalid L2"},
		{"Inf without Tail", d, s, L2Selection{Grid: []float64{math.Inf(1), 1}}, "invalid L2"},
		{"one fold", d, s, L2Selection{Folds: 1}, "folds"},
		{"negative folds", d, s, L2Selection{Folds: -5}, "folds"},
		{"negative MinFoldRows", d, s, L2Selection{MinFoldRows: -1}, "MinFoldRows"},
		{"Group too large", d, s, L2Selection{Group: 5}, "Group"},
		{"negative Group", d, s, L2Selection{Group: -1}, "Group"},
		{"NaN FoldTolerance", d, s, L2Selection{FoldTolerance: math.NaN()}, "FoldTolerance"},
		{"Tail without Penalty.Tail", d, s, L2Selection{Tail: true}, "Tail"},
		{"invalid settings", d, Settings{MaxIterations: -1}, L2Selection{}, "MaxIterations"},
		{"nil dataset", nil, s, L2Selection{}, "nil"},
		{"empty dataset", NewDataset(5, 0), s, L2Selection{}, "no rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SelectL2(defaultObjective(tc.d), tc.s, tc.sel)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one about %q", err, tc.want)
			}
		})
	}
	// +Inf is a value of the tail's grid.
	tail := defaultObjective(d)
	tail.Tail = 2
	if _, err := SelectL2(tail, s, L2Selection{Tail: true, Grid: []float64{math.Inf(1), 1}}); err != nil {
		t.Errorf("+Inf in the tail's grid: %v", err)
	}
}

func TestAssignFoldsAndViews(t *testing.T) {
	d := runData(503, 12, 4, 5, 9)
	for _, group := range []int{0, 4} {
		fold, groups := assignFolds(d, 5, group)
		if group == 0 && groups != 503 {
			t.Errorf("group 0: %d groups", groups)
		}
		// Runs are dealt in turn, and a run never spans two folds.
		r := 0
		for i := range fold {
			if i > 0 && (group == 0 || !slices.Equal(d.Row(i)[8:], d.Row(i - 1)[8:])) {
				r++
			}
			if fold[i] != r%5 {
				t.Fatalf("group %d: row %d in fold %d, run %d", group, i, fold[i], r)
			}
		}
		if r+1 != groups {
			t.Errorf("group %d: %d groups, counted %d", group, groups, r+1)
		}
		start := make([]int, 6)
		for _, f := range fold {
			start[f+1]++
		}
		for f := 1; f <= 5; f++ {
			start[f] += start[f-1]
		}
		train, held := foldViews(d, 10, fold, start)
		for f := range 5 {
			// The held-out rows are fold f's, in order; the training rows the
			// others', each once.
			var want, other []int
			for i, g := range fold {
				if g == f {
					want = append(want, i)
				} else {
					other = append(other, i)
				}
			}
			if held[f].Len() != len(want) || train[f].Len() != len(other) || train[f].Dim() != 10 {
				t.Fatalf("fold %d: %d held, %d training rows of %d; want %d, %d", f, held[f].Len(), train[f].Len(), train[f].Dim(), len(want), len(other))
			}
			for j, i := range want {
				if !slices.Equal(held[f].Row(j), d.Row(i)[:10]) || held[f].Correct(j) != d.Correct(i) {
					t.Fatalf("fold %d: held row %d is not row %d", f, j, i)
				}
			}
			seen := map[int]bool{}
			for j := range train[f].Len() {
				i := slices.IndexFunc(other, func(i int) bool {
					return !seen[i] && slices.Equal(train[f].Row(j), d.Row(i)[:10]) && train[f].Correct(j) == d.Correct(i)
				})
				if i < 0 {
					t.Fatalf("fold %d: training row %d is not another fold's row", f, j)
				}
				seen[other[i]] = true
			}
		}
	}
}

// The planted data must be noisy enough that selection matters: check the
// generator gives both labels.
func TestNoisyDataLabels(t *testing.T) {
	d := noisyData(150, 40, 0.05, 1)
	n := 0
	for i := range d.Len() {
		if d.Correct(i) {
			n++
		}
	}
	if n < 30 || n > 120 {
		t.Errorf("%d of 150 correct", n)
	}
}

// TestFitAutoTailBest: with TailBest the tail's penalty is the grid value
// that validated best; by default it is never a smaller one than that.
func TestFitAutoTailBest(t *testing.T) {
	const dim, tail = 20, 12
	th := make([]float64, dim)
	for j := 1; j < dim; j++ {
		th[j] = 0.3
	}
	d := plantedData(th, 1500, 3)
	s, o := DefaultSettings(), defaultObjective(d)
	o.Tail = tail
	best, err := FitAuto(o, s, L2Selection{TailBest: true})
	if err != nil {
		t.Fatal(err)
	}
	top := math.Inf(-1)
	var want float64
	for i, sc := range best.Tail.Scores {
		if !math.IsNaN(sc) && sc > top {
			top, want = sc, best.Tail.Grid[i]
		}
	}
	if best.Tail.L2 != want {
		t.Errorf("TailBest chose tail l2 %g, the best score is at %g (scores %v over %v)", best.Tail.L2, want, best.Tail.Scores, best.Tail.Grid)
	}
	oneSE, err := FitAuto(o, s, L2Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if oneSE.Tail.L2 < best.Tail.L2 {
		t.Errorf("the one-standard-error rule chose a smaller tail penalty (%g) than the best score (%g)", oneSE.Tail.L2, best.Tail.L2)
	}
}

// TestAssignFoldsFactoredLikeDense checks that a factored Dataset is dealt
// to folds as its dense rows are: runs are of equal KnowledgeStates, and two
// lists of basis vectors ([0, 1] and [1, 0]) can sum to the same bits.
func TestAssignFoldsFactoredLikeDense(t *testing.T) {
	basis := [][]float64{{0.25, -0.5, 0.125}, {0.75, 0.3, -0.2}}
	fact := NewFactoredDataset(5, basis, 100)
	dense := NewDataset(5, 100)
	for i := range 100 {
		ids := []uint32{0, 1}
		if i/2%2 == 1 {
			ids = []uint32{1, 0}
		}
		if i%10 == 9 {
			ids = []uint32{0}
		}
		fact.AddSum([]float64{1, float64(i%7) / 7}, ids, i%3 != 0)
		dense.Add(fact.Row(i), i%3 != 0)
	}
	ff, fg := assignFolds(fact, 5, 3)
	df, dg := assignFolds(dense, 5, 3)
	if fg != dg || !slices.Equal(ff, df) {
		t.Errorf("factored: %d runs, folds %v\ndense, the same rows: %d runs, folds %v", fg, ff, dg, df)
	}
	sel := L2Selection{Group: 3}
	cf, err := SelectL2(&Objective{Data: fact}, DefaultSettings(), sel)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := SelectL2(&Objective{Data: dense}, DefaultSettings(), sel)
	if err != nil {
		t.Fatal(err)
	}
	if cf.Groups != cd.Groups || cf.Fallback != cd.Fallback || cf.L2 != cd.L2 {
		t.Errorf("factored: %d groups, fallback %q, l2 %g; dense: %d groups, fallback %q, l2 %g",
			cf.Groups, cf.Fallback, cf.L2, cd.Groups, cd.Fallback, cd.L2)
	}
}
