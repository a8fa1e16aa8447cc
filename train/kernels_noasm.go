//go:build !amd64 || noasm

package train

// Without the assembly kernels, gemvN, gemvT and lossTerms use gonum's
// blas64 and lossTermsGo; these stubs are never called.

var useAVX2 = false

func gemvNAVX2(m, n, lda int, a, x, z *float64)     { panic("train: no AVX2 kernel") }
func gemvTAVX2(m, n, lda int, a, r, y *float64)     { panic("train: no AVX2 kernel") }
func lossTermsAVX2(n int, z, y, r *float64) float64 { panic("train: no AVX2 kernel") }
