package features

import (
	"fmt"
	"math"
)

// Constants of Khan Academy's accuracy model.
const (
	// EWMASeed is the value both moving averages start from.
	EWMASeed = 0.9
	// PercentCorrectPrior is percent_correct before the first answer.
	PercentCorrectPrior = 0.8
)

// ExerciseState is a student's history on one exercise: the last
// HistoryLimit answers, oldest first. The zero value is a student who has not
// started the exercise.
type ExerciseState struct {
	answers [HistoryLimit]bool // ring buffer
	start   int                // index of the oldest kept answer
	n       int                // answers kept, at most HistoryLimit
}

// Update records an answer, forgetting the oldest one beyond HistoryLimit.
func (s *ExerciseState) Update(correct bool) {
	if s.n < HistoryLimit {
		s.answers[(s.start+s.n)%HistoryLimit] = correct
		s.n++
		return
	}
	s.answers[s.start] = correct
	s.start = (s.start + 1) % HistoryLimit
}

// Len returns how many answers are kept (at most HistoryLimit).
func (s *ExerciseState) Len() int { return s.n }

// answer returns the i-th kept answer, oldest first, as 0 or 1.
func (s *ExerciseState) answer(i int) float64 {
	if s.answers[(s.start+i)%HistoryLimit] {
		return 1
	}
	return 0
}

// EWMA is the exponentially weighted moving average of the kept answers,
// folded oldest first from EWMASeed: ewma = weight*answer + (1-weight)*ewma.
func (s *ExerciseState) EWMA(weight float64) float64 {
	ewma := EWMASeed
	for i := 0; i < s.n; i++ {
		ewma = weight*s.answer(i) + (1-weight)*ewma
	}
	return ewma
}

// Streak counts the trailing correct answers among those kept.
func (s *ExerciseState) Streak() int {
	for i := s.n - 1; i >= 0; i-- {
		if s.answer(i) < 1 {
			return s.n - i - 1
		}
	}
	return s.n
}

// Features writes the six ExerciseState features into dst (which must hold
// NumExerciseFeatures values): ewma_3, ewma_10, current_streak, log_num_done,
// log_num_missed and percent_correct, all over the kept answers.
func (s *ExerciseState) Features(dst []float64) {
	_ = dst[NumExerciseFeatures-1]
	correct := 0
	for i := 0; i < s.n; i++ {
		if s.answer(i) > 0 {
			correct++
		}
	}
	dst[0] = s.EWMA(0.333)
	dst[1] = s.EWMA(0.1)
	dst[2] = float64(s.Streak())
	dst[3] = 0
	dst[5] = PercentCorrectPrior
	if s.n > 0 {
		dst[3] = math.Log(float64(s.n))
		dst[5] = float64(correct) / float64(s.n)
	}
	dst[4] = math.Log(float64(s.n - correct + 1))
}

// Pack returns the state in 32 bits: the kept answers oldest first in bits
// 0-19 and their number in bits 20-24. UnpackExerciseState reverses it.
func (s *ExerciseState) Pack() uint32 {
	var bits uint32
	for i := 0; i < s.n; i++ {
		if s.answer(i) > 0 {
			bits |= 1 << i
		}
	}
	return bits | uint32(s.n)<<HistoryLimit
}

// UnpackExerciseState returns the state that Pack packed.
func UnpackExerciseState(p uint32) (ExerciseState, error) {
	n := int(p >> HistoryLimit)
	if n > HistoryLimit || p&^(1<<(HistoryLimit+5)-1) != 0 || (n < HistoryLimit && p&((1<<HistoryLimit-1)&^(1<<n-1)) != 0) {
		return ExerciseState{}, fmt.Errorf("invalid packed exercise state %#x", p)
	}
	var s ExerciseState
	for i := 0; i < n; i++ {
		s.Update(p&(1<<i) != 0)
	}
	return s, nil
}
