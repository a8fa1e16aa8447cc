//go:build !noasm

package train

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2/FMA kernels of gemv_amd64.s and lossterms_amd64.s.
// Tests switch it off to check the fallbacks.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// gemvNAVX2 sets z[i] = Σ_{j<n} a[i·lda+j]·x[j] for i < m; n%4 == 0.
//
//go:noescape
func gemvNAVX2(m, n, lda int, a, x, z *float64)

// gemvTAVX2 adds Σ_{i<m} a[i·lda+j]·r[i] to y[j] for j < n; n%4 == 0.
//
//go:noescape
func gemvTAVX2(m, n, lda int, a, r, y *float64)

// lossTermsAVX2 is lossTermsGo on four rows at a time; n%4 == 0, n > 0.
//
//go:noescape
func lossTermsAVX2(n int, z, y, r *float64) float64
