package evaluate

import (
	"math"
	"math/bits"
	"slices"
)

// run counts the attempts with prediction P: Pos correct, Neg wrong. A
// count that would pass maxCount continues in another run with the same P.
type run struct {
	P        float64
	Pos, Neg uint32
}

const maxCount = math.MaxUint32

// minPending is the smallest batch of attempts merged into a histogram.
const minPending = 256

// searchMax is the most runs add searches for the prediction.
const searchMax = 512

// hist is a histogram of predictions: runs, sorted by P and compact (one
// run per P, unless a count saturates); the attempts added since, in
// arrival order, each as a key: the bits of p (p in [0, 1], so below 2^62;
// -0 becomes +0) shifted left by one, the low bit set when correct; and
// the runs of merged histograms, not yet combined.
type hist struct {
	runs   []run
	pend   []uint64
	merged []run
}

func byP(x, y run) int {
	switch {
	case x.P < y.P:
		return -1
	case x.P > y.P:
		return 1
	}
	return 0
}

func (h *hist) add(p float64, correct bool) {
	// A small histogram is searched first: a baseline with few distinct
	// predictions then never buffers.
	k := math.Float64bits(p) << 1 // -0 becomes +0
	if n := len(h.runs); n > 0 && n <= searchMax {
		// Branch-free binary search, on the bits: they order the
		// non-negative floats, and below 2^63 their difference is negative
		// exactly when the run's p is the smaller.
		bits, lo := k>>1, 0
		for n > 1 {
			half := n >> 1
			less := int64(math.Float64bits(h.runs[lo+half].P)-bits) >> 63 // -1 or 0
			lo += half & int(less)
			n -= half
		}
		if math.Float64bits(h.runs[lo].P) < bits {
			lo++
		}
		if lo < len(h.runs) && h.runs[lo].P == p {
			r := &h.runs[lo]
			if correct && r.Pos < maxCount {
				r.Pos++
				return
			}
			if !correct && r.Neg < maxCount {
				r.Neg++
				return
			}
		}
	}
	if correct {
		k |= 1
	}
	h.pend = append(h.pend, k)
	// Merging when the pending attempts are as many as the runs makes the
	// cost O(log n) per attempt, amortised.
	if len(h.pend) >= max(minPending, len(h.runs)) {
		h.flush()
	}
}

// merge adds the attempts of g to h; g is unchanged.
func (h *hist) merge(g *hist) {
	runs, merged, pend := g.runs, g.merged, g.pend // g may be h
	h.merged = append(h.merged, runs...)
	h.merged = append(h.merged, merged...)
	h.pend = append(h.pend, pend...)
	if len(h.pend)+len(h.merged) >= max(minPending, len(h.runs)) {
		h.flush()
	}
}

// flush merges the pending attempts and merged runs into the runs.
func (h *hist) flush() {
	if len(h.merged) > 0 {
		slices.SortFunc(h.merged, byP)
		h.runs = mergeRuns(h.runs, h.merged)
		h.merged = nil
	}
	keys := h.pend
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	h.pend = keys[:0]
	runs := h.runs
	i, j := 0, 0
	// Add the counts in place while the runs have the value.
	for j < len(keys) {
		p, pos, neg, next := group(keys, j)
		for i < len(runs) && runs[i].P < p {
			i++
		}
		if i == len(runs) || runs[i].P != p || uint64(runs[i].Pos)+pos > maxCount || uint64(runs[i].Neg)+neg > maxCount {
			break
		}
		runs[i].Pos += uint32(pos)
		runs[i].Neg += uint32(neg)
		j = next
	}
	if j == len(keys) {
		return
	}
	// Merge the rest into new runs.
	fresh := 1
	for k := j + 1; k < len(keys); k++ {
		if keys[k]>>1 != keys[k-1]>>1 {
			fresh++
		}
	}
	out := make([]run, i, len(runs)+fresh)
	copy(out, runs[:i])
	for j < len(keys) {
		p, pos, neg, next := group(keys, j)
		for ; i < len(runs) && runs[i].P <= p; i++ {
			if runs[i].P == p {
				pos += uint64(runs[i].Pos)
				neg += uint64(runs[i].Neg)
			} else {
				out = append(out, runs[i])
			}
		}
		out = appendRun(out, p, pos, neg)
		j = next
	}
	h.runs = append(out, runs[i:]...)
}

// group returns the prediction of keys[j] and the counts of the keys from
// j with that prediction, and the index after them.
func group(keys []uint64, j int) (p float64, pos, neg uint64, next int) {
	bits := keys[j] >> 1
	for next = j; next < len(keys) && keys[next]>>1 == bits; next++ {
		pos += keys[next] & 1
	}
	return math.Float64frombits(bits), pos, uint64(next-j) - pos, next
}

// mergeRuns returns the runs of x and y, both sorted by P, compact.
func mergeRuns(x, y []run) []run {
	out := make([]run, 0, len(x)+len(y))
	for i, j := 0, 0; i < len(x) || j < len(y); {
		var p float64
		if j == len(y) || i < len(x) && x[i].P <= y[j].P {
			p = x[i].P
		} else {
			p = y[j].P
		}
		var pos, neg uint64
		for ; i < len(x) && x[i].P == p; i++ {
			pos += uint64(x[i].Pos)
			neg += uint64(x[i].Neg)
		}
		for ; j < len(y) && y[j].P == p; j++ {
			pos += uint64(y[j].Pos)
			neg += uint64(y[j].Neg)
		}
		out = appendRun(out, p, pos, neg)
	}
	return out
}

// appendRun appends the runs of pos and neg attempts with prediction p:
// runs of at most maxCount each, filled in turn.
func appendRun(rs []run, p float64, pos, neg uint64) []run {
	for pos > 0 || neg > 0 {
		cp, cn := min(pos, maxCount), min(neg, maxCount)
		rs = append(rs, run{P: p, Pos: uint32(cp), Neg: uint32(cn)})
		pos -= cp
		neg -= cn
	}
	return rs
}

// compactSorted combines the runs of equal P of rs, which is sorted by P,
// in place.
func compactSorted(rs []run) []run {
	out := rs[:0] // a P needs no more runs than it had: out never overtakes rs
	for i := 0; i < len(rs); {
		p := rs[i].P
		var pos, neg uint64
		for ; i < len(rs) && rs[i].P == p; i++ {
			pos += uint64(rs[i].Pos)
			neg += uint64(rs[i].Neg)
		}
		out = appendRun(out, p, pos, neg)
	}
	return out
}

// edges are the calibration bin edges: edges[i] is the float64 nearest i/10.
var edges = func() (e [11]float64) {
	for i := range e {
		e[i] = float64(i) / 10
	}
	return e
}()

// bin returns the calibration bin of p in [0, 1].
func bin(p float64) int {
	i := min(int(p*10), 9)
	// p*10 may round across an edge: settle against the edges themselves.
	if i < 9 && p >= edges[i+1] {
		i++
	} else if p < edges[i] {
		i--
	}
	return i
}

// metrics computes the metrics of a compact sorted histogram, in its order.
func metrics(rs []run) Metrics {
	var (
		n, correct, right uint64
		ll                float64
		cal               [10]struct {
			n, correct uint64
			sumP       float64
		}
	)
	for i := 0; i < len(rs); {
		p := rs[i].P
		var pos, neg uint64
		for ; i < len(rs) && rs[i].P == p; i++ {
			pos += uint64(rs[i].Pos)
			neg += uint64(rs[i].Neg)
		}
		n += pos + neg
		correct += pos
		q := min(max(p, Epsilon), 1-Epsilon)
		ll += float64(pos)*math.Log(q) + float64(neg)*math.Log1p(-q)
		if p >= 0.5 {
			right += pos
		} else {
			right += neg
		}
		b := &cal[bin(p)]
		b.n += pos + neg
		b.correct += pos
		b.sumP += p * float64(pos+neg)
	}
	m := Metrics{Attempts: int64(n), Correct: int64(correct), Calibration: make([]Bin, len(cal))}
	for i, c := range cal {
		b := Bin{Lower: edges[i], Upper: edges[i+1], Attempts: int64(c.n)}
		if c.n > 0 {
			b.MeanPredicted = ptr(c.sumP / float64(c.n))
			b.ObservedRate = ptr(float64(c.correct) / float64(c.n))
		}
		m.Calibration[i] = b
	}
	if n == 0 {
		return m
	}
	m.LogLikelihood = ptr(ll / float64(n))
	m.Accuracy = ptr(float64(right) / float64(n))
	if auc, ok := auc(rs); ok {
		m.AUC = &auc
	}
	return m
}

// auc returns the AUC of a histogram sorted by P, and false when it is
// undefined. It counts, exactly in 128 bits, twice the Mann–Whitney U:
// Σ over distinct p of pos(p)·(2·neg(<p) + neg(p)).
func auc(rs []run) (float64, bool) {
	var hi, lo, pos, neg uint64
	for i := 0; i < len(rs); {
		p := rs[i].P
		var gpos, gneg uint64
		for ; i < len(rs) && rs[i].P == p; i++ {
			gpos += uint64(rs[i].Pos)
			gneg += uint64(rs[i].Neg)
		}
		h, l := bits.Mul64(gpos, 2*neg+gneg)
		var carry uint64
		lo, carry = bits.Add64(lo, l, 0)
		hi += h + carry
		pos += gpos
		neg += gneg
	}
	if pos == 0 || neg == 0 {
		return 0, false
	}
	return (float64(hi)*0x1p64 + float64(lo)) / (2 * float64(pos) * float64(neg)), true
}

// AUC returns the area under the ROC curve of scores for the labels (true
// for the positive class): the fraction of (positive, negative) pairs in
// which the positive has the higher score, ties counting 1/2. It returns
// NaN when the labels are all of one class (or there are none). AUC panics
// if the slices differ in length or a score is NaN.
func AUC(scores []float64, labels []bool) float64 {
	if len(scores) != len(labels) {
		panic("evaluate: AUC: scores and labels differ in length")
	}
	rs := make([]run, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) {
			panic("evaluate: AUC: NaN score")
		}
		rs[i] = run{P: s}
		if labels[i] {
			rs[i].Pos = 1
		} else {
			rs[i].Neg = 1
		}
	}
	slices.SortFunc(rs, byP)
	a, ok := auc(rs)
	if !ok {
		return math.NaN()
	}
	return a
}
