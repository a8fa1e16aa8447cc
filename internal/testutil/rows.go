package testutil

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// ReplayedRows replays random students, 40 attempts each on four exercises,
// and returns their first n rows of exercise "ex" in the given feature set.
// The same seed gives the same rows.
func ReplayedRows(n int, seed uint64, set features.FeatureSet) []features.Row {
	r := rand.New(rand.NewPCG(seed, 1))
	comps, _ := features.NewComponents(nil)
	var rows []features.Row
	for u := 0; len(rows) < n; u++ {
		var logs []features.ProblemLog
		next := map[string]int{}
		for i := 0; i < 40; i++ {
			ex := []string{"ex", "a", "b", "c"}[r.IntN(4)]
			next[ex]++
			logs = append(logs, features.ProblemLog{User: fmt.Sprint("u", u), TimeDone: time.Unix(int64(i), 0).UTC(),
				Exercise: ex, ProblemType: fmt.Sprint("pt", r.IntN(3)), ProblemNumber: next[ex], Correct: r.IntN(3) > 0})
		}
		features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems, Features: set}, func(row *features.Row) {
			if row.Exercise == "ex" && len(rows) < n {
				c := *row
				c.Knowledge = append([]features.ComponentKey(nil), row.Knowledge...)
				rows = append(rows, c)
			}
		})
	}
	return rows
}
