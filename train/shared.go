package train

import (
	"bytes"
	"math"
	"unsafe"
)

// sharedRuns lets the objective be evaluated with the last k columns of a
// Dataset's rows stored once per run of consecutive rows in which they are
// all equal. In the knowledge model they are the KnowledgeState, which
// changes only when a student starts another exercise, so the rows of one
// exercise hold the same KnowledgeState several times in a row; its
// products with θ and with the residuals are then done once per run instead
// of once per row.
//
// The own columns [0, dim-k) are copied too, ps of them per row, so that an
// evaluation streams through a few cache lines per row rather than striding
// across the whole row; the padding beyond dim-k is zero.
type sharedRuns struct {
	k      int       // shared columns, the last k of each row
	ps, ss int       // widths of the own and shared parts, padded to multiples of 4
	own    []float64 // rows × ps: columns [0, dim-k) of every row
	shared []float64 // runs × ss: columns [dim-k, dim) of every run
	run    []int32   // the run of each row; non-decreasing
}

// Limits of the automatic choice of the shared columns.
const (
	// minSharedSaving is the least fraction of the work of an evaluation
	// that sharing must save to be used.
	minSharedSaving = 0.2
	// maxRuns bounds the number of runs, which are indexed by int32.
	maxRuns = 1<<31 - 1
)

// chooseShared returns the number k of trailing columns worth sharing
// between consecutive rows of d, 0 if sharing would not save enough work.
// share is the caller's request: positive for exactly that many columns,
// negative to choose automatically, 0 for none.
//
// Automatically, it picks the k that minimises the work of an evaluation,
// N·(dim-k) + runs(k)·k (padded widths), estimating runs(k) from the common
// trailing columns of up to sharedSample evenly spaced pairs of consecutive
// rows.
func chooseShared(d *Dataset, share int) int {
	n, dim := d.Len(), d.dim
	if share == 0 || n < 2 || n > maxRuns {
		return 0
	}
	if share > 0 {
		return min(share, dim-1) // the bias is never shared
	}
	pairs := min(n-1, sharedSample)
	hist := make([]int, dim+1) // hist[c]: sampled pairs with exactly c common trailing columns
	for s := 0; s < pairs; s++ {
		i := 1 + s*(n-1)/pairs
		hist[commonTail(d.Row(i-1), d.Row(i), dim)]++
	}
	scale := float64(n-1) / float64(pairs)
	best, bestCost := 0, float64(n*d.stride)
	breaks := 0 // sampled pairs whose last k columns differ
	for k := 1; k < dim; k++ {
		breaks += hist[k-1]
		cost := float64(n*pad4(dim-k)) + (1+float64(breaks)*scale)*float64(pad4(k))
		if cost <= bestCost { // on a tie, share more
			best, bestCost = k, cost
		}
	}
	if bestCost > (1-minSharedSaving)*float64(n*d.stride) {
		return 0
	}
	return best
}

// sharedSample is the most pairs of rows chooseShared looks at.
const sharedSample = 256

func pad4(n int) int { return (n + 3) &^ 3 }

// commonTail returns how many trailing values a and b (of equal length)
// have in common, counting at most max; values are compared bit for bit.
func commonTail(a, b []float64, max int) int {
	n := len(a)
	max = min(max, n)
	c := 0
	for c < max && math.Float64bits(a[n-1-c]) == math.Float64bits(b[n-1-c]) {
		c++
	}
	return c
}

// asBytes views s as bytes.
func asBytes(s []float64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8)
}

// newSharedRuns finds the runs of rows of d whose last k columns are equal
// bit for bit, and copies those columns once per run and the others once
// per row.
func newSharedRuns(d *Dataset, k int) *sharedRuns {
	n, dim := d.Len(), d.dim
	own := dim - k
	s := &sharedRuns{k: k, ps: pad4(own), ss: pad4(k), run: make([]int32, n)}
	// First the runs, comparing each tail with the previous row's as bytes
	// (the runtime's vector code), then the copies.
	u := int32(0)
	prev := asBytes(d.Row(0)[own:])
	for i := 1; i < n; i++ {
		tail := asBytes(d.Row(i)[own:])
		if !bytes.Equal(prev, tail) {
			u++
		}
		s.run[i] = u
		prev = tail
	}
	s.shared = make([]float64, int(u+1)*s.ss)
	s.own = make([]float64, n*s.ps)
	for i := 0; i < n; i++ {
		row := d.Row(i)
		copy(s.own[i*s.ps:], row[:own])
		if i == 0 || s.run[i] != s.run[i-1] {
			copy(s.shared[int(s.run[i])*s.ss:], row[own:])
		}
	}
	return s
}

// block computes the loss sum of rows [lo, hi) of d into out[0] and, if
// withGrad, their gradient sums into out[1:1+ps] (own columns) and
// out[1+ps:] (shared columns). thOwn and thShared are θ split and padded;
// z, r and u are scratch of subRows values.
func (s *sharedRuns) block(d *Dataset, lo, hi int, out, thOwn, thShared, z, r, u []float64, withGrad bool) {
	gOwn := out[1 : 1+s.ps]
	gShared := out[1+s.ps : 1+s.ps+s.ss]
	clear(out[1 : 1+s.ps+s.ss])
	loss := 0.0
	for a := lo; a < hi; a += subRows {
		b := min(a+subRows, hi)
		u0, u1 := int(s.run[a]), int(s.run[b-1])+1
		runs := s.run[a:b]
		own := s.own[a*s.ps : b*s.ps]
		shared := s.shared[u0*s.ss : u1*s.ss]
		zz, rr, uu := z[:b-a], r[:b-a], u[:u1-u0]
		gemvN(own, s.ps, thOwn, zz)
		gemvN(shared, s.ss, thShared, uu)
		for i, k := range runs {
			zz[i] += uu[int(k)-u0]
		}
		loss += lossTerms(zz, d.y[a:b], rr)
		if withGrad {
			gemvT(own, s.ps, rr, gOwn)
			clear(uu)
			for i, k := range runs {
				uu[int(k)-u0] += rr[i]
			}
			gemvT(shared, s.ss, uu, gShared)
		}
	}
	out[0] = loss
}
