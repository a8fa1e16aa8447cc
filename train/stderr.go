package train

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Hessian returns the Hessian of the mean negative log-likelihood at
// thetas, (1/N) Σ p(1−p) x xᵀ: the observed Fisher information per row. The
// L2 penalty, which adds l2 to every diagonal entry but the bias's, is not
// included.
func Hessian(d *Dataset, thetas []float64) *mat.SymDense {
	const chunk = 1024
	dim, n := d.Dim(), d.Len()
	h := mat.NewSymDense(dim, nil)
	a := mat.NewDense(chunk, dim, nil)
	for lo := 0; lo < n; lo += chunk {
		m := min(chunk, n-lo)
		for i := 0; i < m; i++ {
			x := d.Row(lo + i)
			p := Predict(thetas, x)
			w := math.Sqrt(p * (1 - p) / float64(n))
			row := a.RawRowView(i)
			for j, v := range x {
				row[j] = w * v
			}
		}
		h.SymRankK(h, 1, a.Slice(0, m, 0, dim).T())
	}
	return h
}

// StandardErrors returns the asymptotic standard error of each fitted theta,
// sqrt((H⁻¹)_jj / N) with H the Hessian at thetas: when the model is right,
// (θ̂_j − θ_j)/se_j is approximately standard normal. It fails when H is not
// positive definite, i.e. when the rows do not identify every theta.
func StandardErrors(d *Dataset, thetas []float64) ([]float64, error) {
	if d.Len() == 0 {
		return nil, errors.New("no rows")
	}
	var chol mat.Cholesky
	if !chol.Factorize(Hessian(d, thetas)) {
		return nil, errors.New("the Hessian is not positive definite: the rows do not identify every theta")
	}
	var inv mat.SymDense
	if err := chol.InverseTo(&inv); err != nil {
		return nil, err
	}
	se := make([]float64, d.Dim())
	for j := range se {
		se[j] = math.Sqrt(inv.At(j, j) / float64(d.Len()))
	}
	return se, nil
}
