package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveLoss is the objective written directly from its definition.
func naiveLoss(d *Dataset, l2 float64, theta []float64) (float64, []float64) {
	n := d.Len()
	grad := make([]float64, len(theta))
	loss := 0.0
	for i := 0; i < n; i++ {
		x := d.Row(i)
		z := 0.0
		for j := range x {
			z += theta[j] * x[j]
		}
		p := 1 / (1 + math.Exp(-z))
		y := 0.0
		if d.Correct(i) {
			y = 1
		}
		loss -= y*math.Log(p) + (1-y)*math.Log(1-p)
		for j := range x {
			grad[j] += (p - y) * x[j]
		}
	}
	reg := 0.0
	for j := range grad {
		grad[j] /= float64(n)
		if j > 0 {
			reg += theta[j] * theta[j]
			grad[j] += l2 * theta[j]
		}
	}
	return loss/float64(n) + 0.5*l2*reg, grad
}

func randTheta(dim int, scale float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 9))
	th := make([]float64, dim)
	for j := range th {
		th[j] = rng.NormFloat64() * scale
	}
	return th
}

func TestObjectiveMatchesNaive(t *testing.T) {
	for _, tc := range []struct {
		n, dim int
		l2     float64
		scale  float64
	}{
		{1, 107, 1e-3, 0.5},
		{3, 5, 0, 1},
		{17, 107, 1e-3, 0.3},
		{600, 107, 0.1, 0.5}, // two blocks, a partial sub-block
		{1500, 6, 1e-3, 2},   // a dimension that is not a multiple of 4
	} {
		t.Run(fmt.Sprintf("n=%d/dim=%d", tc.n, tc.dim), func(t *testing.T) {
			d := randData(tc.n, tc.dim, 1)
			th := randTheta(tc.dim, tc.scale, 2)
			o := &Objective{Data: d, Penalty: Penalty{L2: tc.l2}}
			grad := make([]float64, tc.dim)
			f := o.FuncGrad(grad, th)
			wantF, wantG := naiveLoss(d, tc.l2, th)
			if math.Abs(f-wantF) > 1e-13*math.Max(1, math.Abs(wantF)) {
				t.Errorf("FuncGrad value %.17g, naive %.17g", f, wantF)
			}
			if f2 := o.Func(th); f2 != f {
				t.Errorf("Func %.17g, FuncGrad %.17g", f2, f)
			}
			for j := range grad {
				if math.Abs(grad[j]-wantG[j]) > 1e-13 {
					t.Errorf("grad[%d] = %.17g, naive %.17g", j, grad[j], wantG[j])
				}
			}
		})
	}
}

func TestGradientFiniteDifferences(t *testing.T) {
	for _, l2 := range []float64{0, 1e-3, 1} {
		d := randData(300, 107, 3)
		th := randTheta(107, 0.3, 4)
		o := &Objective{Data: d, Penalty: Penalty{L2: l2}}
		grad := make([]float64, len(th))
		o.FuncGrad(grad, th)
		const h = 1e-6
		for j := range th {
			tp := append([]float64(nil), th...)
			tm := append([]float64(nil), th...)
			tp[j] += h
			tm[j] -= h
			fd := (o.Func(tp) - o.Func(tm)) / (2 * h)
			if math.Abs(fd-grad[j]) > 1e-8 {
				t.Errorf("l2=%v: grad[%d] = %.12g, central difference %.12g", l2, j, grad[j], fd)
			}
		}
	}
}

func TestObjectiveWorkersBitIdentical(t *testing.T) {
	d := randData(5000, 107, 5) // ten blocks
	th := randTheta(107, 0.2, 6)
	var f1 float64
	var g1 []float64
	for _, w := range []int{0, 1, 2, 3, 16} {
		o := &Objective{Data: d, Penalty: Penalty{L2: 1e-3}, Workers: w}
		g := make([]float64, 107)
		f := o.FuncGrad(g, th)
		if g1 == nil {
			f1, g1 = f, g
			continue
		}
		if f != f1 {
			t.Errorf("workers=%d: loss %.17g, want %.17g", w, f, f1)
		}
		for j := range g {
			if g[j] != g1[j] {
				t.Errorf("workers=%d: grad[%d] %.17g, want %.17g", w, j, g[j], g1[j])
				break
			}
		}
	}
}

func TestObjectivePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"empty", func() { (&Objective{Data: NewDataset(3, 0)}).Func(make([]float64, 3)) }},
		{"theta length", func() { (&Objective{Data: randData(2, 3, 1)}).Func(make([]float64, 4)) }},
		{"grad length", func() { (&Objective{Data: randData(2, 3, 1)}).FuncGrad(make([]float64, 2), make([]float64, 3)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestKernelsMatchFallback compares the assembly kernels (where the CPU
// has them) with gonum's blas64 and with a direct loop.
func TestKernelsMatchFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, m := range []int{1, 3, 4, 5, 16} {
		for _, n := range []int{4, 8, 12, 108} {
			lda := n + 4
			a := make([]float64, m*lda)
			for i := range a {
				a[i] = rng.NormFloat64()
			}
			x := randTheta(n, 1, uint64(m*n))
			r := randTheta(m, 1, uint64(m+n))
			want := make([]float64, m)
			wantT := randTheta(n, 1, 3)
			gotT := append([]float64(nil), wantT...)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					want[i] += a[i*lda+j] * x[j]
					wantT[j] += a[i*lda+j] * r[i]
				}
			}
			for _, avx := range []bool{true, false} {
				old := useAVX2
				useAVX2 = old && avx
				z := make([]float64, m)
				gemvN(a, lda, x, z)
				y := append([]float64(nil), gotT...)
				gemvT(a, lda, r, y)
				useAVX2 = old
				for i := range z {
					if math.Abs(z[i]-want[i]) > 1e-12 {
						t.Errorf("avx=%v m=%d n=%d: gemvN z[%d] = %v, want %v", avx, m, n, i, z[i], want[i])
					}
				}
				for j := range y {
					if math.Abs(y[j]-wantT[j]) > 1e-12 {
						t.Errorf("avx=%v m=%d n=%d: gemvT y[%d] = %v, want %v", avx, m, n, j, y[j], wantT[j])
					}
				}
			}
		}
	}
}

// runData returns n rows of dimension dim whose last k columns stay the same
// for runs of about runLen rows, like a KnowledgeState.
func runData(n, dim, k, runLen int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 3))
	d := NewDataset(dim, n)
	x := make([]float64, dim)
	for i := 0; i < n; i++ {
		x[0] = 1
		for j := 1; j < dim-k; j++ {
			x[j] = rng.NormFloat64() * 0.3
		}
		if i == 0 || rng.IntN(runLen) == 0 {
			for j := dim - k; j < dim; j++ {
				x[j] = rng.NormFloat64() * 0.1
			}
		}
		d.Add(x, rng.Float64() < 0.6)
	}
	return d
}

func TestChooseShared(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     *Dataset
		share int
		want  int
	}{
		{"off", runData(1000, 107, 100, 4, 1), 0, 0},
		{"fixed", runData(1000, 107, 100, 4, 1), 50, 50},
		{"fixed beyond the bias", runData(100, 107, 100, 4, 1), 200, 106},
		{"runs of 4", runData(1000, 107, 100, 4, 1), -1, 100},
		{"no runs", randData(1000, 107, 2), -1, 0},
		{"short runs", runData(1000, 107, 100, 1, 3), -1, 0},
		{"one row", runData(1, 107, 100, 4, 1), -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chooseShared(tc.d, tc.share); got != tc.want {
				t.Errorf("chooseShared = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestObjectiveShared(t *testing.T) {
	for _, tc := range []struct {
		n, dim, k, runLen int
	}{
		{1, 10, 3, 1},
		{37, 10, 3, 5},
		{1100, 107, 100, 4}, // three blocks, runs across sub-blocks
		{600, 9, 4, 50},     // own and shared widths not multiples of 4
	} {
		t.Run(fmt.Sprintf("n=%d/dim=%d/k=%d", tc.n, tc.dim, tc.k), func(t *testing.T) {
			d := runData(tc.n, tc.dim, tc.k, tc.runLen, 4)
			th := randTheta(tc.dim, 0.5, 5)
			wantF, wantG := naiveLoss(d, 1e-3, th)
			var first []float64
			for _, share := range []int{tc.k, -1, 1, tc.dim - 1} {
				for _, w := range []int{1, 3} {
					o := &Objective{Data: d, Penalty: Penalty{L2: 1e-3}, Share: share, Workers: w}
					g := make([]float64, tc.dim)
					f := o.FuncGrad(g, th)
					if math.Abs(f-wantF) > 1e-13*math.Max(1, math.Abs(wantF)) {
						t.Errorf("share=%d workers=%d: loss %.17g, naive %.17g", share, w, f, wantF)
					}
					for j := range g {
						if math.Abs(g[j]-wantG[j]) > 1e-13 {
							t.Errorf("share=%d workers=%d: grad[%d] %.17g, naive %.17g", share, w, j, g[j], wantG[j])
						}
					}
					if share == tc.k {
						if w == 1 {
							first = g
						} else if !slices.Equal(g, first) {
							t.Errorf("share=%d: gradient depends on the number of workers", share)
						}
					}
				}
			}
		})
	}
}

func TestObjectiveDataGrows(t *testing.T) {
	d := runData(300, 20, 10, 5, 6)
	o := &Objective{Data: d, Penalty: Penalty{L2: 1e-3}, Share: -1}
	th := randTheta(20, 0.5, 7)
	o.Func(th)
	d.Add(d.Row(0), true)
	want, _ := naiveLoss(d, 1e-3, th)
	if got := o.Func(th); math.Abs(got-want) > 1e-13 {
		t.Errorf("after Add: loss %.17g, naive %.17g", got, want)
	}
}

func TestCommonTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	naive := func(a, b []float64, max int) int {
		c := 0
		for c < max && c < len(a) && math.Float64bits(a[len(a)-1-c]) == math.Float64bits(b[len(b)-1-c]) {
			c++
		}
		return c
	}
	for iter := 0; iter < 20000; iter++ {
		n := 1 + rng.IntN(40)
		a := make([]float64, n)
		for j := range a {
			a[j] = float64(rng.IntN(3))
		}
		b := append([]float64(nil), a...)
		for k := rng.IntN(3); k > 0; k-- {
			b[rng.IntN(n)] = float64(rng.IntN(3))
		}
		if rng.IntN(10) == 0 {
			b[rng.IntN(n)] = math.Copysign(0, -1) // -0 differs from +0 bitwise
		}
		max := rng.IntN(n + 3)
		if got, want := commonTail(a, b, max), naive(a, b, max); got != want {
			t.Fatalf("commonTail(%v, %v, %d) = %d, want %d", a, b, max, got, want)
		}
	}
}
