package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// plantedData draws n rows with features x ~ N(0, 1) and labels drawn from
// the model with the given thetas.
func plantedData(thetas []float64, n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 11))
	d := NewDataset(len(thetas), n)
	x := make([]float64, len(thetas))
	for i := 0; i < n; i++ {
		x[0] = 1
		for j := 1; j < len(x); j++ {
			x[j] = rng.NormFloat64()
		}
		d.Add(x, rng.Float64() < Predict(thetas, x))
	}
	return d
}

// defaultObjective is the Objective of d with the reference trainer's L2
// and automatic sharing.
func defaultObjective(d *Dataset) *Objective {
	return &Objective{Data: d, Penalty: Penalty{L2: DefaultL2}, Share: ShareAuto}
}

func TestFitRecoversPlantedThetas(t *testing.T) {
	planted := []float64{0.5, 1.5, -2, 0.75, 0, -1}
	d := plantedData(planted, 50000, 1)
	o := defaultObjective(d)
	o.L2 = 0
	res, err := Fit(o, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged() {
		t.Fatalf("status %v", res.Status)
	}
	for j, want := range planted {
		// The standard error of each estimate is about 0.015.
		if math.Abs(res.Thetas[j]-want) > 0.08 {
			t.Errorf("theta[%d] = %.4f, planted %.4f", j, res.Thetas[j], want)
		}
	}
	if got, want := res.Loss, LogLoss(res.Thetas, d); got != want {
		t.Errorf("Loss %v, LogLoss at the thetas %v", got, want)
	}
}

func TestFitOptimality(t *testing.T) {
	d := randData(800, 107, 12)
	s := DefaultSettings()
	res, err := Fit(defaultObjective(d), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != GradientConverged {
		t.Fatalf("status %v, want GradientConverged", res.Status)
	}
	o := &Objective{Data: d, Penalty: Penalty{L2: DefaultL2}}
	g := make([]float64, d.Dim())
	if f := o.FuncGrad(g, res.Thetas); f != res.Loss {
		t.Errorf("objective at the thetas %v, Result.Loss %v", f, res.Loss)
	}
	for j, v := range g {
		if math.Abs(v) >= s.GradientTolerance {
			t.Errorf("grad[%d] = %g, want |.| < %g", j, v, s.GradientTolerance)
		}
	}
	if res.Iterations <= 0 || res.Evaluations < res.Iterations || res.Duration <= 0 {
		t.Errorf("iterations %d, evaluations %d, duration %v", res.Iterations, res.Evaluations, res.Duration)
	}
}

func TestFitDeterministic(t *testing.T) {
	d := randData(3000, 107, 13)
	var first Result
	for i, w := range []int{1, 1, 2, 3} {
		o := defaultObjective(d)
		o.Workers = w
		res, err := Fit(o, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res
			continue
		}
		if res.Loss != first.Loss || res.Iterations != first.Iterations ||
			res.Evaluations != first.Evaluations || !slices.Equal(res.Thetas, first.Thetas) {
			t.Errorf("run %d (workers %d): loss %.17g after %d iterations, first run %.17g after %d",
				i, w, res.Loss, res.Iterations, first.Loss, first.Iterations)
		}
	}
}

func TestFitDegenerate(t *testing.T) {
	nan := NewDataset(3, 2)
	nan.Add([]float64{1, 0.5, 0}, true)
	nan.Add([]float64{1, math.NaN(), 0}, false)
	inf := NewDataset(3, 1)
	inf.Add([]float64{1, math.Inf(-1), 0}, true)
	huge := NewDataset(3, 3)
	huge.Add([]float64{1, 1e300, -1e300}, true)
	huge.Add([]float64{1, -1e300, 1e308}, false)
	huge.Add([]float64{1, 1e308, 1e308}, true)
	overflow := NewDataset(2, 4) // the gradient's sum overflows at θ = 0
	for i := 0; i < 4; i++ {
		overflow.Add([]float64{1, 1e308}, false)
	}

	one := NewDataset(3, 1)
	one.Add([]float64{1, 0.2, -0.1}, true)
	allTrue := randData(50, 4, 14)
	allFalse := NewDataset(4, 50)
	for i := 0; i < 50; i++ {
		allTrue.y[i] = 1
		allFalse.Add(allTrue.Row(i), false)
	}
	// Two identical rows with opposite labels: the gradient is 0 at θ = 0.
	tie := NewDataset(2, 2)
	tie.Add([]float64{1, 0.5}, true)
	tie.Add([]float64{1, 0.5}, false)

	for _, tc := range []struct {
		name    string
		d       *Dataset
		wantErr bool
		status  Status
	}{
		{"nil", nil, true, Failed},
		{"no rows", NewDataset(107, 0), true, Failed},
		{"NaN feature", nan, true, Failed},
		{"Inf feature", inf, true, Failed},
		{"huge features", huge, false, -1},
		{"overflowing gradient", overflow, true, Failed},
		{"one row", one, false, GradientConverged},
		{"all correct", allTrue, false, GradientConverged},
		{"all wrong", allFalse, false, GradientConverged},
		{"zero gradient at start", tie, false, GradientConverged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Fit(defaultObjective(tc.d), DefaultSettings())
			if tc.status < 0 { // either a finite result or an error, no panic
				if (err != nil) != (res.Status == Failed) {
					t.Errorf("status %v with error %v", res.Status, err)
				}
				return
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if res.Status != tc.status {
				t.Errorf("status %v, want %v", res.Status, tc.status)
			}
			if err == nil && (math.IsNaN(res.Loss) || !finite(res.Thetas)) {
				t.Errorf("non-finite result: loss %v", res.Loss)
			}
		})
	}
	if _, err := Fit(defaultObjective(NewDataset(5, 0)), DefaultSettings()); !errors.Is(err, ErrNoRows) {
		t.Errorf("empty dataset: error %v, want ErrNoRows", err)
	}
}

func TestFitLimits(t *testing.T) {
	d := randData(500, 107, 15)
	for _, tc := range []struct {
		name   string
		modify func(*Settings)
		status Status
		check  func(Result) bool
	}{
		{"iterations", func(s *Settings) { s.MaxIterations = 5 }, IterationLimit,
			func(r Result) bool { return r.Iterations == 5 }},
		{"evaluations", func(s *Settings) { s.MaxEvaluations = 7 }, EvaluationLimit,
			func(r Result) bool { return r.Evaluations == 7 }},
		{"function tolerance", func(s *Settings) { s.GradientTolerance = 0; s.FunctionTolerance = 1e-6 }, FunctionConverged,
			func(r Result) bool { return r.Converged() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			tc.modify(&s)
			res, err := Fit(defaultObjective(d), s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || !tc.check(res) {
				t.Errorf("status %v after %d iterations, %d evaluations", res.Status, res.Iterations, res.Evaluations)
			}
		})
	}
}

func TestFitInvalidSettings(t *testing.T) {
	d := randData(10, 4, 16)
	for _, tc := range []struct {
		name   string
		modify func(*Objective, *Settings)
	}{
		{"negative L2", func(o *Objective, _ *Settings) { o.L2 = -1 }},
		{"NaN L2", func(o *Objective, _ *Settings) { o.L2 = math.NaN() }},
		{"Inf L2", func(o *Objective, _ *Settings) { o.L2 = math.Inf(1) }},
		{"negative tail", func(o *Objective, _ *Settings) { o.Tail = -1 }},
		{"tail of every feature", func(o *Objective, _ *Settings) { o.Tail = 4 }},
		{"NaN tail L2", func(o *Objective, _ *Settings) { o.Tail, o.TailL2 = 2, math.NaN() }},
		{"negative iterations", func(_ *Objective, s *Settings) { s.MaxIterations = -1 }},
		{"negative evaluations", func(_ *Objective, s *Settings) { s.MaxEvaluations = -1 }},
		{"NaN gradient tolerance", func(_ *Objective, s *Settings) { s.GradientTolerance = math.NaN() }},
		{"negative function tolerance", func(_ *Objective, s *Settings) { s.FunctionTolerance = -1 }},
		{"negative store", func(_ *Objective, s *Settings) { s.Store = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, s := defaultObjective(d), DefaultSettings()
			tc.modify(o, &s)
			res, err := Fit(o, s)
			if err == nil || res.Status != Failed {
				t.Errorf("status %v, error %v; want Failed and an error", res.Status, err)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{
		GradientConverged: "GradientConverged",
		FunctionConverged: "FunctionConverged",
		IterationLimit:    "IterationLimit",
		EvaluationLimit:   "EvaluationLimit",
		LineSearchFailed:  "LineSearchFailed",
		Failed:            "Failed",
		Status(99):        "Status(99)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", int(s), got, want)
		}
	}
}

func TestPredictAndSigmoid(t *testing.T) {
	for _, tc := range []struct{ z, want float64 }{
		{0, 0.5}, {800, 1}, {-800, 0}, {math.Log(3), 0.75}, {-math.Log(3), 0.25},
	} {
		if got := Sigmoid(tc.z); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("Sigmoid(%v) = %v, want %v", tc.z, got, tc.want)
		}
	}
	if got := Predict([]float64{1, 2}, []float64{1, -0.5}); got != 0.5 {
		t.Errorf("Predict = %v, want 0.5", got)
	}
	if got := LogLoss([]float64{0}, NewDataset(1, 0)); !math.IsNaN(got) {
		t.Errorf("LogLoss of no rows = %v, want NaN", got)
	}
}

func TestDataset(t *testing.T) {
	d := NewDataset(5, 1)
	d.Add([]float64{1, 2, 3, 4, 5}, true)
	d.Add([]float64{1, -2, -3, -4, -5}, false)
	if d.Len() != 2 || d.Dim() != 5 {
		t.Fatalf("Len %d Dim %d", d.Len(), d.Dim())
	}
	if !slices.Equal(d.Row(1), []float64{1, -2, -3, -4, -5}) || !d.Correct(0) || d.Correct(1) {
		t.Errorf("rows %v %v labels %v %v", d.Row(0), d.Row(1), d.Correct(0), d.Correct(1))
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
	for _, f := range []func(){
		func() { NewDataset(0, 1) },
		func() { NewDataset(2, -1) },
		func() { d.Add([]float64{1}, true) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

func TestFitShared(t *testing.T) {
	d := runData(3000, 107, 100, 5, 17)
	var dense Result
	for i, tc := range []struct{ share, workers int }{{0, 1}, {-1, 1}, {-1, 2}, {100, 1}} {
		o := &Objective{Data: d, Penalty: Penalty{L2: DefaultL2}, Share: tc.share, Workers: tc.workers}
		res, err := Fit(o, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		if !res.Converged() {
			t.Errorf("share %d: status %v", tc.share, res.Status)
		}
		if i == 0 {
			dense = res
			continue
		}
		if math.Abs(res.Loss-dense.Loss) > 1e-12 {
			t.Errorf("share %d workers %d: loss %.15g, without sharing %.15g", tc.share, tc.workers, res.Loss, dense.Loss)
		}
	}
}
