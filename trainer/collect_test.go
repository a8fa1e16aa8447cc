package trainer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// TestDatasetIndependentOfBatchOrder: the thetas of an exercise are the
// same bit for bit whatever order its batches arrive in, with extended rows
// that tie on all but their extras (a log kept twice, with
// --drop_gaps=false, after 20 equal answers).
func TestDatasetIndependentOfBatchOrder(t *testing.T) {
	comps, _ := features.NewComponents(nil)
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	var in []RowBatch
	for u := range 40 {
		var logs []features.ProblemLog
		for i := 1; i <= 31; i++ {
			logs = append(logs, features.ProblemLog{User: fmt.Sprint("u", u), TimeDone: t0.Add(time.Duration(i) * time.Second),
				Exercise: "ex", ProblemType: fmt.Sprint("pt", (i*7+u)%3), ProblemNumber: i, Correct: i > 10 || (i*u)%3 != 0})
		}
		if u%3 == 0 {
			logs = append(logs, logs[len(logs)-1])
		}
		b := RowBatch{Extended: true}
		features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems, KeepGaps: true,
			Compact: true, Features: features.Extended}, func(r *features.Row) { b.Add(r) })
		in = append(in, b)
	}
	fit := func(order []int) []float64 {
		c := NewCollector(0)
		for _, i := range order {
			c.Add(&in[i])
		}
		d, _, err := c.Dataset(comps)
		if err != nil {
			t.Fatal(err)
		}
		r, err := train.Fit(&train.Objective{Data: d, Penalty: train.Penalty{L2: 1e-4}}, train.DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		return r.Thetas
	}
	order := make([]int, len(in))
	for i := range order {
		order[i] = i
	}
	want := fit(order)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if got := fit(order); !slices.Equal(got, want) {
			t.Fatalf("batch order %v: thetas differ: bias %v vs %v", order, got[0], want[0])
		}
	}
}
