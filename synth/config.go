package synth

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// Config describes a synthetic population of students and exercises.
type Config struct {
	// Students is the number of students.
	Students int
	// Exercises is the number of exercises.
	Exercises int
	// ProblemTypes is the number of problem types of each exercise. Each
	// problem's type is drawn uniformly.
	ProblemTypes int

	// ExercisesPerStudent is the mean number of exercises a student starts:
	// 1 + Poisson(ExercisesPerStudent-1), at most Exercises.
	ExercisesPerStudent float64
	// Popularity skews which exercises students start: exercise i (counting
	// from 0) is picked with weight (i+1)^-Popularity. 0 picks uniformly.
	Popularity float64
	// CurriculumSpread orders a student's exercises like a curriculum: by
	// index plus Gaussian noise of this standard deviation (in exercises).
	// 0 takes them strictly in index order; a value much larger than
	// Exercises takes them in random order.
	CurriculumSpread float64

	// MinVisitProblems and MaxVisitProblems bound the number of problems a
	// student does in one visit to an exercise (uniform between them).
	MinVisitProblems, MaxVisitProblems int
	// ReturnProbability is the probability that a visit goes back to an
	// exercise the student has started and not finished rather than to a new
	// one. Higher values interleave exercises more.
	ReturnProbability float64
	// AbandonProbability is the probability that a student never comes back
	// to an exercise after a visit that left it unfinished.
	AbandonProbability float64
	// MasteryStreak finishes an exercise once the student has answered this
	// many problems of it correctly in a row; 0 disables mastery.
	MasteryStreak int
	// MaxProblems finishes an exercise after this many problems.
	MaxProblems int

	// Start is the earliest time_done; each student's first attempt is
	// uniform in [Start, Start+Span).
	Start time.Time
	Span  time.Duration
	// ProblemTime is the mean time between two attempts within a visit.
	ProblemTime time.Duration
	// VisitGap is the mean time between two visits.
	VisitGap time.Duration

	// KnowledgeWeight is the logit shift, on average, that a correct rather
	// than a wrong first answer on one of an exercise's prerequisites gives.
	// Each prerequisite's shift is drawn uniformly in [0.5, 1.5] times
	// KnowledgeWeight, shared by its problem types.
	KnowledgeWeight float64
	// Prerequisites is the number of preceding exercises (by index) that are
	// an exercise's prerequisites.
	Prerequisites int
	// KnowledgeNoise is the standard deviation of independent Gaussian noise
	// added to every planted KnowledgeState theta.
	KnowledgeNoise float64

	// Shuffle emits the logs in random order within a sliding window of this
	// many logs, so that a reader cannot rely on them being grouped by
	// student. 0 emits each student's logs in time order, student after
	// student.
	Shuffle int

	// Seed seeds the planted thetas and every random draw.
	Seed uint64
}

// DefaultConfig returns a small, realistic population: 1,000 students over
// 30 exercises of 3 problem types, about 60,000 logs, of which a problem
// number window of 1-5 keeps at least 300 rows for almost every exercise.
func DefaultConfig() Config {
	return Config{
		Students:            1000,
		Exercises:           30,
		ProblemTypes:        3,
		ExercisesPerStudent: 6,
		Popularity:          0.5,
		CurriculumSpread:    6,
		MinVisitProblems:    1,
		MaxVisitProblems:    10,
		ReturnProbability:   0.4,
		AbandonProbability:  0.15,
		MasteryStreak:       5,
		MaxProblems:         40,
		Start:               time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC),
		Span:                28 * 24 * time.Hour,
		ProblemTime:         45 * time.Second,
		VisitGap:            36 * time.Hour,
		KnowledgeWeight:     0.6,
		Prerequisites:       3,
		KnowledgeNoise:      0.02,
		Shuffle:             0,
		Seed:                1,
	}
}

// Validate reports the first field of c that is out of range.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error { return fmt.Errorf("synth: "+format, args...) }
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	prob := func(v float64) bool { return v >= 0 && v <= 1 }
	switch {
	case c.Students < 0:
		return bad("negative Students %d", c.Students)
	case c.Exercises < 1:
		return bad("Exercises %d, want at least 1", c.Exercises)
	case c.ProblemTypes < 1:
		return bad("ProblemTypes %d, want at least 1", c.ProblemTypes)
	case !finite(c.ExercisesPerStudent) || c.ExercisesPerStudent < 1:
		return bad("ExercisesPerStudent %v, want at least 1", c.ExercisesPerStudent)
	case !finite(c.Popularity) || c.Popularity < 0:
		return bad("Popularity %v, want a non-negative number", c.Popularity)
	case !finite(c.CurriculumSpread) || c.CurriculumSpread < 0:
		return bad("CurriculumSpread %v, want a non-negative number", c.CurriculumSpread)
	case c.MinVisitProblems < 1 || c.MaxVisitProblems < c.MinVisitProblems:
		return bad("visit problems %d-%d, want 1 <= min <= max", c.MinVisitProblems, c.MaxVisitProblems)
	case !prob(c.ReturnProbability):
		return bad("ReturnProbability %v, want a probability", c.ReturnProbability)
	case !prob(c.AbandonProbability):
		return bad("AbandonProbability %v, want a probability", c.AbandonProbability)
	case c.MasteryStreak < 0:
		return bad("negative MasteryStreak %d", c.MasteryStreak)
	case c.MaxProblems < 1:
		return bad("MaxProblems %d, want at least 1", c.MaxProblems)
	case c.Span < 0:
		return bad("negative Span %v", c.Span)
	case c.ProblemTime < time.Microsecond:
		return bad("ProblemTime %v, want at least 1µs", c.ProblemTime)
	case c.VisitGap < 0:
		return bad("negative VisitGap %v", c.VisitGap)
	case !finite(c.KnowledgeWeight):
		return bad("KnowledgeWeight %v", c.KnowledgeWeight)
	case c.Prerequisites < 0:
		return bad("negative Prerequisites %d", c.Prerequisites)
	case !finite(c.KnowledgeNoise) || c.KnowledgeNoise < 0:
		return bad("KnowledgeNoise %v, want a non-negative number", c.KnowledgeNoise)
	case c.Shuffle < 0:
		return bad("negative Shuffle %d", c.Shuffle)
	case c.Start.IsZero():
		return errors.New("synth: zero Start")
	case !features.TimeInRange(c.Start) || !features.TimeInRange(c.Start.Add(c.Span)):
		return bad("Start %v and Span %v, want times in %s", c.Start, c.Span, features.TimeRange)
	}
	return nil
}
