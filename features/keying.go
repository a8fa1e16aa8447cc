package features

import "fmt"

// ComponentKeying says what a random component is keyed by.
type ComponentKeying int

const (
	// KeyByProblemType keys a component by (exercise, problem_type,
	// correct): Khan Academy's model, the default.
	KeyByProblemType ComponentKeying = iota
	// KeyByExercise keys a component by (exercise, correct): coarser, and
	// better where problem types are many and each is seen by few students
	// (ASSISTments has 17,708 items). Its keys have an empty ProblemType,
	// which a real problem type never is (a log without one is a bad row).
	KeyByExercise
)

// Names of the keyings, as --component_key takes them.
const (
	KeyingProblemTypeName = "exercise,problem_type,correct"
	KeyingExerciseName    = "exercise,correct"
)

// ParseComponentKeying reads "exercise,problem_type,correct" (or "") and
// "exercise,correct".
func ParseComponentKeying(s string) (ComponentKeying, error) {
	switch s {
	case "", KeyingProblemTypeName:
		return KeyByProblemType, nil
	case KeyingExerciseName:
		return KeyByExercise, nil
	}
	return 0, fmt.Errorf("component key %q: want %q or %q", s, KeyingProblemTypeName, KeyingExerciseName)
}

// String returns the keying's name.
func (k ComponentKeying) String() string {
	if k == KeyByExercise {
		return KeyingExerciseName
	}
	return KeyingProblemTypeName
}

// Key returns the key of the component an attempt adds.
func (k ComponentKeying) Key(l ProblemLog) ComponentKey {
	if k == KeyByExercise {
		return ComponentKey{Exercise: l.Exercise, Correct: l.Correct}
	}
	return ComponentKey{l.Exercise, l.ProblemType, l.Correct}
}
