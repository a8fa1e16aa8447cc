package features

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KnowledgeState sums the components of the exercises a student has started.
type KnowledgeState [KnowledgeDim]float64

// Add adds a component vector to the state.
func (k *KnowledgeState) Add(v []float64) {
	_ = v[KnowledgeDim-1]
	for i := range k {
		k[i] += v[i]
	}
}

// Student is the replay state of one student: an ExerciseState per exercise
// and the KnowledgeState, with the components it sums in the order they
// were added. The zero value is not usable; call NewStudent.
type Student struct {
	components *Components
	exercises  map[string]*exerciseRecord
	knowledge  KnowledgeState
	started    []ComponentKey

	// The whole history, for the extended features (Extras).
	attempts, correct int
	previous          int8    // +1 correct, -1 wrong, 0 no attempt yet
	recent            float64 // recent_correct: EWMA of every answer, RecentWeight
}

// exerciseRecord is a student's history on one exercise.
type exerciseRecord struct {
	state  ExerciseState
	totals totals
}

// Knowledge returns the keys of the components the KnowledgeState sums, in
// the order they were added. The slice is only appended to: a prefix stays
// valid as the student goes on.
func (s *Student) Knowledge() []ComponentKey { return s.started }

// ExerciseState returns the student's state on an exercise.
func (s *Student) ExerciseState(exercise string) ExerciseState {
	if e := s.exercises[exercise]; e != nil {
		return e.state
	}
	return ExerciseState{}
}

// Attempts returns how many attempts at exercise the student has made.
func (s *Student) Attempts(exercise string) int {
	if e := s.exercises[exercise]; e != nil {
		return e.totals.attempts
	}
	return 0
}

// NewStudent returns a student who has answered nothing, whose KnowledgeState
// takes its components from c.
func NewStudent(c *Components) *Student {
	return &Student{components: c, exercises: make(map[string]*exerciseRecord), recent: RecentSeed}
}

// Features writes into x the 107 features the model uses to predict the
// student's next answer on exercise: the bias, the ExerciseState features
// and the KnowledgeState.
func (s *Student) Features(exercise string, x *[NumFeatures]float64) {
	x[0] = 1
	if e := s.exercises[exercise]; e != nil {
		e.state.Features(x[1 : 1+NumExerciseFeatures])
	} else {
		(&ExerciseState{}).Features(x[1 : 1+NumExerciseFeatures])
	}
	copy(x[1+NumExerciseFeatures:], s.knowledge[:])
}

// Apply folds an attempt into the state: the answer joins the exercise's
// history and, on the first problem of an exercise, the component of
// (exercise, problem type, correct) joins the KnowledgeState (or of
// (exercise, correct), as the table's Keying says).
func (s *Student) Apply(l ProblemLog) {
	e := s.exercises[l.Exercise]
	if e == nil {
		e = &exerciseRecord{}
		s.exercises[l.Exercise] = e
	}
	e.state.Update(l.Correct)
	e.totals.attempts++
	e.totals.last = l.TimeDone
	s.attempts++
	s.previous = -1
	answer := 0.0
	if l.Correct {
		e.totals.correct++
		s.correct++
		s.previous = 1
		answer = 1
	}
	s.recent = RecentWeight*answer + (1-RecentWeight)*s.recent
	if l.ProblemNumber == 1 {
		key := s.components.Keying.Key(l)
		s.knowledge.Add(s.components.Vector(key))
		s.started = append(s.started, key)
	}
}

// ExpandFeatures writes into x the features of a compact row: the
// ExerciseState before the attempt and the component vectors of the
// KnowledgeState, in the order they were added. It computes exactly what
// Student.Features computed, bit for bit.
func ExpandFeatures(history *ExerciseState, knowledge [][]float64, x *[NumFeatures]float64) {
	x[0] = 1
	history.Features(x[1 : 1+NumExerciseFeatures])
	var k KnowledgeState
	for _, v := range knowledge {
		k.Add(v)
	}
	copy(x[1+NumExerciseFeatures:], k[:])
}

// Window is the inclusive range of problem numbers whose attempts become
// training rows.
type Window struct{ Min, Max int }

// AllProblems is the window that keeps every attempt.
var AllProblems = Window{math.MinInt, math.MaxInt}

// DefaultWindow is the window of Khan Academy's training runs.
var DefaultWindow = Window{1, 5}

// ParseWindow parses "all", "N" or "LO-HI".
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "all" {
		return AllProblems, nil
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a > b {
		return Window{}, fmt.Errorf("problem-number window %q: want \"all\", \"N\" or \"LO-HI\" with LO <= HI", s)
	}
	return Window{a, b}, nil
}

// Contains reports whether problem number n is in the window.
func (w Window) Contains(n int) bool { return n >= w.Min && n <= w.Max }

// String formats the window as ParseWindow reads it.
func (w Window) String() string {
	if w == AllProblems {
		return "all"
	}
	return strconv.Itoa(w.Min) + "-" + strconv.Itoa(w.Max)
}

// SortLogs sorts one student's logs chronologically. Ties in time_done are
// broken by exercise, problem number, problem type and correctness, so the
// order never depends on the order the logs arrived in.
func SortLogs(logs []ProblemLog) {
	slices.SortFunc(logs, CompareLogs)
}

// CompareLogs orders two logs of a student as SortLogs does.
func CompareLogs(a, b ProblemLog) int {
	if c := a.TimeDone.Compare(b.TimeDone); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Exercise, b.Exercise); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ProblemNumber, b.ProblemNumber); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ProblemType, b.ProblemType); c != 0 {
		return c
	}
	switch {
	case a.Correct == b.Correct:
		return 0
	case !a.Correct:
		return -1
	}
	return 1
}

// GapError says that a student's problem numbers on an exercise, in time
// order, do not step by one. Khan's training drops such students whole.
type GapError struct {
	User     string
	Exercise string
	From, To int       // consecutive problem numbers
	At       time.Time // time_done of the attempt numbered To
}

func (e *GapError) Error() string {
	return fmt.Sprintf("student %q: exercise %q problem number goes from %d to %d at %s",
		e.User, e.Exercise, e.From, e.To, e.At.Format(time.RFC3339Nano))
}

// CheckSteps reports the first place where sorted logs' problem numbers on an
// exercise do not step by exactly one. The first number may be any number.
func CheckSteps(sorted []ProblemLog) error {
	last := make(map[string]int)
	for _, l := range sorted {
		if prev, ok := last[l.Exercise]; ok && l.ProblemNumber != prev+1 {
			return &GapError{User: l.User, Exercise: l.Exercise, From: prev, To: l.ProblemNumber, At: l.TimeDone}
		}
		last[l.Exercise] = l.ProblemNumber
	}
	return nil
}

// ReplayOptions controls Replay.
type ReplayOptions struct {
	// Window selects the attempts that become rows.
	Window Window
	// KeepGaps keeps students whose problem numbers do not step by one
	// instead of dropping them.
	KeepGaps bool
	// Compact leaves Row.X unset: the row is only its History and
	// Knowledge, which ExpandFeatures turns into X when it is needed. It
	// saves copying 107 values per row.
	Compact bool
	// Features is the feature set the rows are for: with Extended, Row.Extras
	// is filled too.
	Features FeatureSet
}

// Replay sorts one student's logs chronologically and replays them: for
// each attempt in the window it emits the row of features computed before
// the attempt, then applies the attempt. The Row passed to emit is reused
// between calls; copy it to keep it.
//
// Unless opts.KeepGaps is set, a student whose problem numbers do not step by
// one emits nothing and Replay returns a *GapError.
func Replay(logs []ProblemLog, c *Components, opts ReplayOptions, emit func(*Row)) error {
	SortLogs(logs)
	if !opts.KeepGaps {
		if err := CheckSteps(logs); err != nil {
			return err
		}
	}
	s := NewStudent(c)
	var row Row
	for _, l := range logs {
		if opts.Window.Contains(l.ProblemNumber) {
			row.User, row.Exercise, row.ProblemType = l.User, l.Exercise, l.ProblemType
			row.ProblemNumber, row.TimeDone, row.Correct = l.ProblemNumber, l.TimeDone, l.Correct
			if !opts.Compact {
				s.Features(l.Exercise, &row.X)
			}
			row.History = s.ExerciseState(l.Exercise)
			row.Knowledge = s.Knowledge()
			if opts.Features == Extended {
				s.Extras(l, row.Extras[:])
			}
			emit(&row)
		}
		s.Apply(l)
	}
	return nil
}
