package transforms

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

func TestLogBatchCoder(t *testing.T) {
	t0 := time.Date(2014, 1, 2, 3, 4, 5, 678901000, time.UTC)
	for _, b := range []LogBatch{
		{},
		{Logs: []features.ProblemLog{{User: "u", TimeDone: t0, Exercise: "ex", ProblemType: "pt", ProblemNumber: 1, Correct: true}}},
		{Logs: []features.ProblemLog{
			{User: "u", TimeDone: t0.Add(time.Hour), Exercise: "ex,1", ProblemType: "", ProblemNumber: 7},
			{User: "u", TimeDone: t0, Exercise: "ex", ProblemType: "pt", ProblemNumber: -3, Correct: true},
			{User: "u", TimeDone: time.Unix(0, 0).UTC(), Exercise: "ex", ProblemType: "pt", ProblemNumber: 1 << 40},
		}},
	} {
		got, err := decodeLogBatch(encodeLogBatch(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Logs) == 0 && len(got.Logs) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("round trip: got %+v, want %+v", got, b)
		}
	}
	if _, err := decodeLogBatch([]byte{5, 1}); err == nil {
		t.Error("corrupt batch decoded without error")
	}
}

func randomRows(n int, seed uint64) RowBatch {
	r := rand.New(rand.NewPCG(seed, 1))
	var b RowBatch
	for i := 0; i < n; i++ {
		row := features.Row{User: "u", Exercise: "ex", ProblemNumber: i, TimeDone: time.Unix(int64(i), 0), Correct: r.IntN(2) == 1}
		for j := range row.X {
			row.X[j] = r.NormFloat64()
		}
		b.Add(&row)
	}
	return b
}

func TestRowBatchCoder(t *testing.T) {
	b := randomRows(13, 1)
	got, err := decodeRowBatch(encodeRowBatch(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Error("round trip changed the batch")
	}
	if _, err := decodeRowBatch(encodeRowBatch(b)[:50]); err == nil {
		t.Error("truncated batch decoded without error")
	}
}

// iterate returns a Beam-style iterator over batches.
func iterate(batches []RowBatch) func(*RowBatch) bool {
	i := 0
	return func(b *RowBatch) bool {
		if i == len(batches) {
			return false
		}
		*b = batches[i]
		i++
		return true
	}
}

func split(b RowBatch, sizes ...int) []RowBatch {
	var out []RowBatch
	start := 0
	for _, n := range sizes {
		end := start + n
		out = append(out, RowBatch{Correct: b.Correct[start:end], Sample: b.Sample[start:end], X: b.X[start*features.NumFeatures : end*features.NumFeatures]})
		start = end
	}
	return out
}

// TestCollectRowsCap checks that the row cap keeps the same rows, in the
// same order, however the rows arrive.
func TestCollectRowsCap(t *testing.T) {
	all := randomRows(1000, 2)
	orders := [][]RowBatch{
		split(all, 1000),
		split(all, 1, 998, 1),
		split(all, 300, 300, 400),
	}
	// The same rows in reverse batch order.
	rev := split(all, 250, 250, 250, 250)
	rev[0], rev[3] = rev[3], rev[0]
	orders = append(orders, rev)
	for _, cap := range []int{0, 1, 100, 999, 1000, 5000} {
		var first *train.Dataset
		for i, batches := range orders {
			d, seen := collectRows(iterate(batches), cap)
			if seen != 1000 {
				t.Fatalf("seen %d", seen)
			}
			want := 1000
			if cap > 0 && cap < want {
				want = cap
			}
			if d.Len() != want {
				t.Fatalf("cap %d: %d rows, want %d", cap, d.Len(), want)
			}
			if first == nil {
				first = d
				continue
			}
			for r := 0; r < d.Len(); r++ {
				if !reflect.DeepEqual(d.Row(r), first.Row(r)) || d.Correct(r) != first.Correct(r) {
					t.Fatalf("cap %d, order %d: row %d differs", cap, i, r)
				}
			}
		}
	}
}
