package evaluate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Comparer accumulates a new and the current model version's predictions
// on the same attempts, for a promotion gate. It keeps O(1) state: per
// version, the sum of the attempts' negative log-likelihoods in 128-bit
// fixed point (each term rounded to a multiple of 2^-64), so sums, and
// Comparisons, are the same whatever the order of adds and merges. The zero
// value is ready to use; a Comparer is not safe for concurrent use.
type Comparer struct {
	attempts, skipped uint64
	newSum, curSum    fixed
}

// Comparison compares two versions' mean log-likelihoods on the attempts
// both scored.
type Comparison struct {
	// Attempts is the number of attempts both versions scored; the means
	// are 0 when it is 0.
	Attempts int64 `json:"attempts"`
	// Skipped is the number of attempts one or both versions could not
	// score, which are left out.
	Skipped int64 `json:"skipped"`
	// New and Current are the versions' mean log-likelihoods per attempt
	// (predictions clamped to [Epsilon, 1-Epsilon]).
	New     float64 `json:"new"`
	Current float64 `json:"current"`
	// Delta is New - Current: positive when the new version is better.
	Delta float64 `json:"delta"`
}

// Passes reports whether the new version may replace the current one: some
// attempts were compared and New ≥ Current - maxRegression. A negative
// maxRegression demands an improvement.
func (c Comparison) Passes(maxRegression float64) bool {
	return c.Attempts > 0 && c.New >= c.Current-maxRegression
}

// Add adds an attempt with the new and the current version's predictions;
// NaN means that version cannot score the attempt (e.g. it has no thetas
// for the exercise), and the attempt is counted as skipped. Add returns an
// error, and adds nothing, if a prediction is outside [0, 1].
func (c *Comparer) Add(correct bool, pNew, pCurrent float64) error {
	for _, p := range [2]float64{pNew, pCurrent} {
		if !math.IsNaN(p) && !(p >= 0 && p <= 1) {
			return fmt.Errorf("evaluate: prediction %v not in [0, 1]", p)
		}
	}
	if math.IsNaN(pNew) || math.IsNaN(pCurrent) {
		c.skipped++
		return nil
	}
	c.attempts++
	c.newSum.add(toFixed(-logLikelihood(pNew, correct)))
	c.curSum.add(toFixed(-logLikelihood(pCurrent, correct)))
	return nil
}

// Merge adds the attempts of d to c.
func (c *Comparer) Merge(d *Comparer) {
	c.attempts += d.attempts
	c.skipped += d.skipped
	c.newSum.add(d.newSum)
	c.curSum.add(d.curSum)
}

// Comparison returns the comparison of everything added.
func (c *Comparer) Comparison() Comparison {
	r := Comparison{Attempts: int64(c.attempts), Skipped: int64(c.skipped)}
	if c.attempts > 0 {
		r.New = -c.newSum.float() / float64(c.attempts)
		r.Current = -c.curSum.float() / float64(c.attempts)
		r.Delta = r.New - r.Current
	}
	return r
}

const cmpMagic = "kmcp\x01"

// MarshalBinary encodes the comparer (encoding.BinaryMarshaler).
func (c *Comparer) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), cmpMagic...)
	b = binary.AppendUvarint(b, c.attempts)
	b = binary.AppendUvarint(b, c.skipped)
	for _, v := range [4]uint64{c.newSum.hi, c.newSum.lo, c.curSum.hi, c.curSum.lo} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b, nil
}

// UnmarshalBinary replaces the comparer with an encoding made by
// MarshalBinary (encoding.BinaryUnmarshaler).
func (c *Comparer) UnmarshalBinary(data []byte) error {
	if len(data) < len(cmpMagic) || string(data[:len(cmpMagic)]) != cmpMagic {
		return errors.New("evaluate: not an encoded Comparer (or an unknown version)")
	}
	d := decoder{b: data[len(cmpMagic):]}
	var r Comparer
	r.attempts, r.skipped = d.uvarint(), d.uvarint()
	if d.err != nil || len(d.b) != 32 {
		return errors.New("evaluate: bad Comparer encoding")
	}
	r.newSum = fixed{binary.LittleEndian.Uint64(d.b), binary.LittleEndian.Uint64(d.b[8:])}
	r.curSum = fixed{binary.LittleEndian.Uint64(d.b[16:]), binary.LittleEndian.Uint64(d.b[24:])}
	*c = r
	return nil
}

// logLikelihood returns ln p if correct, else ln(1-p), p clamped to
// [Epsilon, 1-Epsilon].
func logLikelihood(p float64, correct bool) float64 {
	q := min(max(p, Epsilon), 1-Epsilon)
	if correct {
		return math.Log(q)
	}
	return math.Log1p(-q)
}

// fixed is a non-negative 128-bit fixed-point number: hi + lo/2^64.
type fixed struct{ hi, lo uint64 }

func (f *fixed) add(g fixed) {
	var carry uint64
	f.lo, carry = bits.Add64(f.lo, g.lo, 0)
	f.hi += g.hi + carry
}

func (f fixed) float() float64 { return float64(f.hi) + float64(f.lo)*0x1p-64 }

// toFixed returns v, in [0, 2^63), rounded to the nearest multiple of
// 2^-64 (halves up).
func toFixed(v float64) fixed {
	if v == 0 {
		return fixed{}
	}
	frac, exp := math.Frexp(v)
	m := uint64(frac * (1 << 53)) // v = m·2^(exp-53), exactly
	switch s := exp - 53 + 64; {  // v·2^64 = m·2^s
	case s >= 64:
		return fixed{hi: m << (s - 64)}
	case s > 0:
		return fixed{hi: m >> (64 - s), lo: m << s}
	case s == 0:
		return fixed{lo: m}
	default:
		r := uint(-s) // shifts of 64 or more give 0
		return fixed{lo: m>>r + m>>(r-1)&1}
	}
}
