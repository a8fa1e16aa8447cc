// Package score replays a student's ProblemLogs under one or more models
// and scores every attempt from the attempts before it, then applies it, as
// the webapp would have predicted it: the one loop that held-out
// evaluation, the promotion gate's comparison with the current version,
// monitoring and the streaming scorer share.
//
// Attempts are replayed in the order features.SortLogs gives, whole: gaps
// in problem numbers are not a reason to skip a student, as they are in
// training.
package score

import (
	"math"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/predict"
)

// Prediction is a model's probability that an attempt is correct. OK is
// false when the model has no thetas for the attempt's exercise (P is then
// 0): such an attempt is counted, not scored.
type Prediction struct {
	P  float64
	OK bool
}

// OrNaN returns P, or NaN when the model has no thetas for the attempt.
func (p Prediction) OrNaN() float64 {
	if !p.OK {
		return math.NaN()
	}
	return p.P
}

// Student is one student replayed under one or more models, each with its
// own state. Each of its goroutines may have its own Students of one model:
// a predict.Model is immutable.
type Student struct {
	states []*predict.Student
	preds  []Prediction
}

// NewStudent returns a student who has answered nothing, under models.
func NewStudent(models ...*predict.Model) *Student {
	s := &Student{states: make([]*predict.Student, len(models)), preds: make([]Prediction, len(models))}
	for i, m := range models {
		s.states[i] = m.NewStudent()
	}
	return s
}

// AppendBinary appends the student's state to b in the form ReadStudent
// reads. The history is the same under every model, so it is written once.
func (s *Student) AppendBinary(b []byte) ([]byte, error) {
	return s.states[0].AppendBinary(b)
}

// ReadStudent returns the student whose state AppendBinary wrote, under
// models, which may be other versions than it was written under.
func ReadStudent(data []byte, models ...*predict.Model) (*Student, error) {
	s := &Student{states: make([]*predict.Student, len(models)), preds: make([]Prediction, len(models))}
	for i, m := range models {
		st, err := m.ReadStudent(data)
		if err != nil {
			return nil, err
		}
		s.states[i] = st
	}
	return s, nil
}

// Score returns each model's prediction of attempt l (its exercise,
// problem type and time; not its answer) from the attempts applied so far,
// in the order of the models. The slice is reused by the next call.
func (s *Student) Score(l features.ProblemLog) []Prediction {
	for i, st := range s.states {
		p, ok := st.PredictAttempt(l)
		s.preds[i] = Prediction{P: p, OK: ok}
	}
	return s.preds
}

// Apply folds attempt l into the student's state under every model.
// Attempts must be applied in the order features.SortLogs gives.
func (s *Student) Apply(l features.ProblemLog) {
	for _, st := range s.states {
		st.Apply(l)
	}
}

// State returns the student's state under the i-th model, as it is between
// Score and Apply: other predictions of the same attempt (a baseline's, of
// the same features) read it.
func (s *Student) State(i int) *predict.Student { return s.states[i] }

// Replay sorts logs (features.SortLogs, in place) and replays them: each
// attempt at or after from (every attempt, if from is zero) is passed to
// yield with every model's prediction, while s is still in the state before
// it, and then applied. It stops at yield's first error.
func Replay(s *Student, logs []features.ProblemLog, from time.Time, yield func(l features.ProblemLog, p []Prediction) error) error {
	features.SortLogs(logs)
	for _, l := range logs {
		if from.IsZero() || !l.TimeDone.Before(from) {
			if err := yield(l, s.Score(l)); err != nil {
				return err
			}
		}
		s.Apply(l)
	}
	return nil
}
