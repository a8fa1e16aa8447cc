package evaluate_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/kmtrain/knowledgemodel/evaluate"
)

func TestSegmentOf(t *testing.T) {
	for previous, want := range []evaluate.Segment{evaluate.SegmentFirst, evaluate.SegmentEarly, evaluate.SegmentEarly,
		evaluate.SegmentEarly, evaluate.SegmentEarly, evaluate.SegmentLater, evaluate.SegmentLater} {
		if got := evaluate.SegmentOf(previous); got != want {
			t.Errorf("SegmentOf(%d) = %v, want %v", previous, got, want)
		}
	}
}

// TestSegments checks that a segment's metrics are those of its attempts
// alone, and that segments change nothing else of the report.
func TestSegments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := evaluate.NewAccumulator("rate")
	plain := evaluate.NewAccumulator("rate")
	var alone [evaluate.NumSegments]*evaluate.Accumulator
	for s := range alone {
		alone[s] = evaluate.NewAccumulator("rate")
	}
	for i := range 3000 {
		at := evaluate.Attempt{Exercise: []string{"a", "b", "c"}[i%3], Correct: rng.Float64() < 0.6, P: rng.Float64(),
			HasP: i%50 != 0, Segment: evaluate.SegmentOf(rng.IntN(9)), Baselines: []float64{0.6}}
		for _, a := range []*evaluate.Accumulator{all, alone[at.Segment]} {
			if err := a.Add(at); err != nil {
				t.Fatal(err)
			}
		}
		at.Segment = 0
		plain.Add(at)
	}
	r := all.Report()
	if len(r.Segments) != evaluate.NumSegments {
		t.Fatalf("%d segments, want %d", len(r.Segments), evaluate.NumSegments)
	}
	for s, sm := range r.Segments {
		want := alone[s].Report()
		if sm.Segment != evaluate.Segment(s).String() || !reflect.DeepEqual(sm.Metrics, want.Overall) ||
			!reflect.DeepEqual(sm.Baselines["rate"], want.Baselines["rate"].Overall) {
			t.Errorf("segment %d: %+v, want the metrics of its attempts alone %+v", s, sm.Metrics, want.Overall)
		}
	}
	p := plain.Report()
	r.Segments, p.Segments = nil, nil
	if !reflect.DeepEqual(r, p) {
		t.Error("the report with segments differs from the one without but for its segments")
	}
	// The encoding keeps the segments.
	b, err := all.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back evaluate.Accumulator
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Report(), all.Report()) {
		t.Error("the decoded accumulator reports differently")
	}
	if err := all.Add(evaluate.Attempt{Exercise: "a", P: 0.5, HasP: true, Segment: evaluate.NumSegments}); err == nil {
		t.Error("Add took an unknown segment")
	}
}
