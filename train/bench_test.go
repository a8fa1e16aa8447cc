package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// randData returns n rows of dimension dim with a bias, features N(0, 0.3²)
// and labels that are correct with probability 0.6.
func randData(n, dim int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := NewDataset(dim, n)
	x := make([]float64, dim)
	for i := 0; i < n; i++ {
		x[0] = 1
		for j := 1; j < dim; j++ {
			x[j] = rng.NormFloat64() * 0.3
		}
		d.Add(x, rng.Float64() < 0.6)
	}
	return d
}

// cpuTime returns the user+system CPU time of the process, which is less
// disturbed than wall time when the machine is shared.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkFuncGrad(b *testing.B) {
	for _, n := range []int{300, 2000, 20000} {
		for _, w := range []int{1, 2} {
			b.Run(fmt.Sprintf("n=%d/workers=%d", n, w), func(b *testing.B) {
				d := randData(n, 107, 1)
				o := &Objective{Data: d, Penalty: Penalty{L2: 1e-3}, Workers: w}
				th := randTheta(107, 0.1, 2)
				g := make([]float64, 107)
				c0 := cpuTime()
				for b.Loop() {
					o.FuncGrad(g, th)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
				b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/row")
			})
		}
	}
}

func BenchmarkFit(b *testing.B) {
	for _, n := range []int{300, 5000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d := randData(n, 107, 2)
			o, s := defaultObjective(d), DefaultSettings()
			var res Result
			for b.Loop() {
				res, _ = Fit(o, s)
			}
			b.ReportMetric(float64(res.Iterations), "iterations")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(res.Evaluations), "ns/evaluation")
		})
	}
}

func naiveTerms(z, y, r []float64) float64 {
	s := 0.0
	for i, zi := range z {
		s += math.Log1p(math.Exp(-math.Abs(zi))) + math.Max(zi, 0) - y[i]*zi
		r[i] = Sigmoid(zi) - y[i]
	}
	return s
}

func BenchmarkLossTerms(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	z, y, r := make([]float64, subRows), make([]float64, subRows), make([]float64, subRows)
	for i := range z {
		z[i] = rng.NormFloat64() * 2
		y[i] = float64(rng.IntN(2))
	}
	for _, f := range []struct {
		name string
		f    func(z, y, r []float64) float64
	}{{"kernel", lossTerms}, {"go", lossTermsGo}, {"math", naiveTerms}} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				f.f(z, y, r)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subRows, "ns/row")
		})
	}
}

func BenchmarkGemv(b *testing.B) {
	const m, n = subRows, 108
	a := make([]float64, m*n)
	for i := range a {
		a[i] = float64(i%13) * 0.1
	}
	x := make([]float64, n)
	z := make([]float64, m)
	for _, avx := range []bool{true, false} {
		old := useAVX2
		useAVX2 = avx && old
		b.Run(fmt.Sprintf("N/avx2=%v", useAVX2), func(b *testing.B) {
			for b.Loop() {
				gemvN(a, n, x, z)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/m, "ns/row")
		})
		b.Run(fmt.Sprintf("T/avx2=%v", useAVX2), func(b *testing.B) {
			for b.Loop() {
				gemvT(a, n, z, x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/m, "ns/row")
		})
		useAVX2 = old
	}
}

func BenchmarkFuncGradShared(b *testing.B) {
	for _, n := range []int{2000, 20000} {
		for _, runLen := range []int{2, 4} {
			for _, share := range []int{0, -1} {
				b.Run(fmt.Sprintf("n=%d/runs=%d/share=%d", n, runLen, share), func(b *testing.B) {
					d := runData(n, 107, 100, runLen, 1)
					o := &Objective{Data: d, Penalty: Penalty{L2: 1e-3}, Share: share}
					th := randTheta(107, 0.1, 2)
					g := make([]float64, 107)
					o.FuncGrad(g, th)
					for b.Loop() {
						o.FuncGrad(g, th)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
				})
			}
		}
	}
	b.Run("prepare/n=2000/runs=2", func(b *testing.B) {
		d := runData(2000, 107, 100, 2, 1)
		for b.Loop() {
			o := &Objective{Data: d, Share: -1}
			o.prepare()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/row")
	})
}
