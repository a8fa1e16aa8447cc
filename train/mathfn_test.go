package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLossTerms checks the inlined exp/log of lossTerms against math.Log1p
// and math.Exp on scores over the whole range, both labels.
func TestLossTerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	zs := []float64{0, math.Copysign(0, -1), 1e-300, -1e-300, 1e-17, -1e-17, 1e-8, 0.5, -0.5,
		0.8813735870195429, 0.881373587019543, -0.881373587019543, 1, -1, 36, -36, 700, -700, 708, 709, -745, 800, -800, 1e300, -1e300}
	for i := 0; i < 100000; i++ {
		zs = append(zs, rng.NormFloat64()*3, (rng.Float64()-0.5)*1500)
	}
	// Four equal rows go through the vector kernel where there is one (the
	// four lane sums are then exactly 4 times the term), one row through
	// the scalar code.
	for _, n := range []int{4, 1} {
		z := make([]float64, n)
		y := make([]float64, n)
		r := make([]float64, n)
		for _, zi := range zs {
			for _, yi := range []float64{0, 1} {
				for i := range z {
					z[i], y[i] = zi, yi
				}
				got := lossTerms(z, y, r) / float64(n)
				want := math.Log1p(math.Exp(-math.Abs(zi))) + math.Max(zi, 0) - yi*zi
				p := Sigmoid(zi)
				// Error bound: a few ulp of the terms that are summed.
				tol := 4e-16 * (math.Abs(want) + math.Abs(zi) + 1)
				if math.Abs(got-want) > tol {
					t.Errorf("n=%d z=%v y=%v: loss term %v, want %v (diff %g)", n, zi, yi, got, want, got-want)
				}
				if math.Abs(r[0]-(p-yi)) > 4e-16 {
					t.Errorf("n=%d z=%v y=%v: p-y %v, want %v (diff %g)", n, zi, yi, r[0], p-yi, r[0]-(p-yi))
				}
			}
		}
	}
}
