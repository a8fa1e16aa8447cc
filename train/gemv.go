package train

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// The two matrix-vector products of an evaluation run on blocks of a few
// rows: z = A·θ, then g += Aᵀ·r while the rows are still in L1 cache. On
// amd64 CPUs with AVX2 and FMA they use the kernels of gemv_amd64.s (four
// rows and four columns at a time, fused multiply-adds); elsewhere gonum's
// blas64 (SSE2 assembly on amd64). Within one machine a given input gives
// the same result bit for bit.

// gemvN sets z[i] = Σ_j a[i*lda+j]·x[j] for i < len(z), j < len(x).
func gemvN(a []float64, lda int, x, z []float64) {
	m, n := len(z), len(x)
	if m == 0 || n == 0 {
		return
	}
	_ = a[(m-1)*lda+n-1]
	if useAVX2 && n%4 == 0 {
		gemvNAVX2(m, n, lda, &a[0], &x[0], &z[0])
		return
	}
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: m, Cols: n, Stride: lda, Data: a[:(m-1)*lda+n]},
		blas64.Vector{N: n, Inc: 1, Data: x}, 0, blas64.Vector{N: m, Inc: 1, Data: z})
}

// gemvT adds Σ_i a[i*lda+j]·r[i] to y[j] for i < len(r), j < len(y).
func gemvT(a []float64, lda int, r, y []float64) {
	m, n := len(r), len(y)
	if m == 0 || n == 0 {
		return
	}
	_ = a[(m-1)*lda+n-1]
	if useAVX2 && n%4 == 0 {
		gemvTAVX2(m, n, lda, &a[0], &r[0], &y[0])
		return
	}
	blas64.Gemv(blas.Trans, 1, blas64.General{Rows: m, Cols: n, Stride: lda, Data: a[:(m-1)*lda+n]},
		blas64.Vector{N: m, Inc: 1, Data: r}, 1, blas64.Vector{N: n, Inc: 1, Data: y})
}
