package evaluate

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestCompactSaturates(t *testing.T) {
	rs := []run{
		{0.2, maxCount, 1}, {0.2, 5, maxCount}, {0.2, 1, 0},
		{0.5, 1, 1},
	}
	got := compactSorted(slices.Clone(rs))
	want := []run{{0.2, maxCount, maxCount}, {0.2, 6, 1}, {0.5, 1, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compactSorted = %v, want %v", got, want)
	}
	// Metrics see one group per p, whatever the split.
	if m1, m2 := metrics(rs), metrics(got); !reflect.DeepEqual(m1, m2) {
		t.Errorf("metrics differ: %+v, %+v", m1, m2)
	}
	// AUC of the groups by hand: pos(0.2) = 2^32+5, neg(0.2) = 2^32; pos(0.5) = neg(0.5) = 1.
	pos02, neg02 := float64(maxCount)+6, float64(maxCount)+1
	want05 := (pos02*neg02/2 + 1*(2*neg02+1)/2) / ((pos02 + 1) * (neg02 + 1))
	if a, _ := auc(got); math.Abs(a-want05) > 1e-12 {
		t.Errorf("AUC %v, want %v", a, want05)
	}
}

// TestHistogram checks the buffered histogram against a map of counts.
func TestHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, distinct := range []int{1, 7, 100, 5000, 0} {
		var h hist
		counts := map[float64][2]uint32{}
		for range 20000 {
			p := r.Float64()
			if distinct > 0 {
				p = float64(r.IntN(distinct)) / float64(distinct)
			}
			correct := r.IntN(2) == 0
			h.add(p, correct)
			c := counts[p]
			if correct {
				c[0]++
			} else {
				c[1]++
			}
			counts[p] = c
			if len(h.pend) >= max(minPending, len(h.runs)) {
				t.Fatalf("%d pending attempts, %d runs", len(h.pend), len(h.runs))
			}
		}
		h.flush()
		if len(h.runs) != len(counts) {
			t.Fatalf("distinct %d: %d runs, %d values", distinct, len(h.runs), len(counts))
		}
		for i, run := range h.runs {
			if i > 0 && h.runs[i-1].P >= run.P {
				t.Fatalf("runs out of order at %d", i)
			}
			if c := counts[run.P]; c != [2]uint32{run.Pos, run.Neg} {
				t.Fatalf("p %v: run %v, counts %v", run.P, run, c)
			}
		}
	}
}

func TestNegativeZero(t *testing.T) {
	a := NewAccumulator()
	a.Add(Attempt{Exercise: "x", P: math.Copysign(0, -1), HasP: true})
	a.Add(Attempt{Exercise: "x", P: 0, HasP: true, Correct: true})
	b, _ := a.MarshalBinary()
	var c Accumulator
	if err := c.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if h := c.exercises[key{exercise: "x"}].scores[0].runs; len(h) != 1 || math.Signbit(h[0].P) {
		t.Errorf("runs %v", h)
	}
}

func TestToFixed(t *testing.T) {
	for _, v := range []float64{0, 1e-30, 0x1p-64, 0x1p-65, 3 * 0x1p-66, 1e-15, 0.5, 1, math.Pi, 34.538776394910684, 1e9, 0x1p62} {
		f := toFixed(v)
		want := math.Round(v*0x1p64) * 0x1p-64
		if v > 1 {
			want = v
		}
		if got := f.float(); got != want {
			t.Errorf("toFixed(%v) = %v, want %v", v, got, want)
		}
	}
}
