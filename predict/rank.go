package predict

import (
	"cmp"
	"slices"

	"github.com/kmtrain/knowledgemodel/features"
)

// Ranked is one exercise of a ranking: the probability that the student
// answers its next problem correctly, and how many attempts at it the
// student has made (0: never started, predicted from the KnowledgeState and
// the student's whole history alone).
type Ranked struct {
	Exercise string
	P        float64
	Attempts int
}

// Rank ranks every exercise the model has thetas for, those never attempted
// included, by the probability that the student answers its next problem
// correctly, the likeliest first (ties by exercise): what the webapp offers
// challenge cards from. next gives the next problem's type and time, which
// an exercise trained on the extended features reads (see PredictAttempt);
// its exercise is ignored.
func (s *Student) Rank(next features.ProblemLog) []Ranked {
	out := make([]Ranked, 0, len(s.m.Thetas))
	for e := range s.m.Thetas {
		next.Exercise = e
		p, _ := s.PredictAttempt(next)
		out = append(out, Ranked{Exercise: e, P: p, Attempts: s.Attempts(e)})
	}
	slices.SortFunc(out, func(a, b Ranked) int {
		return cmp.Or(cmp.Compare(b.P, a.P), cmp.Compare(a.Exercise, b.Exercise))
	})
	return out
}

// Rank is Student.Rank for a student with the given history (in any
// order; see Predict).
func (m *Model) Rank(history []features.ProblemLog, next features.ProblemLog) []Ranked {
	return m.replay(history).Rank(next)
}
