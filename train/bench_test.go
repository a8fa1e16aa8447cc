package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

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

func BenchmarkFuncGrad(b *testing.B) {
	for _, n := range []int{300, 1000, 2000, 3000, 5000, 20000} {
		{
			for _, w := range []int{1, 2} {
				b.Run(fmt.Sprintf("n=%d/w=%d", n, w), func(b *testing.B) {
					d := randData(n, 107, 1)
					o := &Objective{Data: d, L2: 1e-3, Workers: w}
					th := make([]float64, 107)
					for j := range th {
						th[j] = 0.01 * float64(j%7)
					}
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
}

func BenchmarkFit(b *testing.B) {
	for _, n := range []int{300, 5000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d := randData(n, 107, 2)
			s := DefaultSettings()
			var it, ev int
			for b.Loop() {
				r, _ := Fit(d, s)
				it, ev = r.Iterations, r.Evaluations
			}
			b.ReportMetric(float64(it), "iters")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(ev), "ns/eval")
		})
	}
}

// cpuTime returns the user+system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func naiveTerms(z, y, r []float64) float64 {
	s := 0.0
	for i, zi := range z {
		e := math.Exp(-math.Abs(zi))
		s += math.Log1p(e) + math.Max(zi, 0) - y[i]*zi
		r[i] = Sigmoid(zi) - y[i]
	}
	return s
}

func BenchmarkLossTerms(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	z, y, r := make([]float64, 16), make([]float64, 16), make([]float64, 16)
	for i := range z {
		z[i] = rng.NormFloat64() * 2
		y[i] = float64(rng.IntN(2))
	}
	for _, f := range []struct {
		name string
		f    func(z, y, r []float64) float64
	}{{"kernel", lossTerms}, {"go", lossTermsGo}, {"math", naiveTerms}} {
		b.Run(f.name, func(b *testing.B) {
			c0 := cpuTime()
			for b.Loop() {
				f.f(z, y, r)
			}
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N)/16, "cpu-ns/row")
		})
	}
}

func BenchmarkGemv(b *testing.B) {
	const m, n = 16, 108
	a := make([]float64, m*n)
	for i := range a {
		a[i] = float64(i%13) * 0.1
	}
	x := make([]float64, n)
	z := make([]float64, m)
	for _, avx := range []bool{true, false} {
		old := useAVX2
		useAVX2 = avx && old
		b.Run(fmt.Sprintf("N/avx=%v", avx), func(b *testing.B) {
			for b.Loop() {
				gemvN(a, n, x, z)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/m, "ns/row")
		})
		b.Run(fmt.Sprintf("T/avx=%v", avx), func(b *testing.B) {
			for b.Loop() {
				gemvT(a, n, z, x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/m, "ns/row")
		})
		useAVX2 = old
	}
}
