package features

import (
	"fmt"
	"math"
	"time"
)

// FeatureSet says which features a model predicts from.
type FeatureSet int

const (
	// Khan2014 is Khan Academy's model: the bias, the six ExerciseState
	// features and the KnowledgeState, 107 features. The default.
	Khan2014 FeatureSet = iota
	// Extended adds NumExtras features between the ExerciseState and the
	// KnowledgeState (see ExtraNames): how hard the problem type is,
	// estimated on the training answers, and what the student's whole
	// history says that the last 20 answers of one exercise do not.
	Extended
)

// Names of the feature sets, as --features takes them.
const (
	Khan2014Name = "khan2014"
	ExtendedName = "extended"
)

// ParseFeatureSet reads "khan2014" (or "") and "extended".
func ParseFeatureSet(s string) (FeatureSet, error) {
	switch s {
	case "", Khan2014Name:
		return Khan2014, nil
	case ExtendedName:
		return Extended, nil
	}
	return 0, fmt.Errorf("feature set %q: want %q or %q", s, Khan2014Name, ExtendedName)
}

// String returns the name ParseFeatureSet reads.
func (f FeatureSet) String() string {
	if f == Extended {
		return ExtendedName
	}
	return Khan2014Name
}

// Dim returns the number of features, and of thetas, of a model: 107 or
// 107+NumExtras.
func (f FeatureSet) Dim() int {
	if f == Extended {
		return NumFeatures + NumExtras
	}
	return NumFeatures
}

// Names returns the names of the features in order: FeatureNames, with
// ExtraNames after the ExerciseState's in the extended set.
func (f FeatureSet) Names() []string {
	if f != Extended {
		return FeatureNames
	}
	names := append([]string(nil), FeatureNames[:1+NumExerciseFeatures]...)
	names = append(names, ExtraNames...)
	return append(names, FeatureNames[1+NumExerciseFeatures:]...)
}

// The extended features, in order. The first is the problem type's
// difficulty, which comes from the training data (see DifficultyCounts);
// the others (NumStudentExtras of them) come from the student's history
// before the attempt (Student.Extras).
const (
	NumExtras        = 9
	NumStudentExtras = NumExtras - 1
)

// ExtraNames names the extended features.
var ExtraNames = []string{
	"problem_type_difficulty", // logit of the problem type's smoothed correct rate on the training answers
	"log_attempts",            // ln(1 + attempts at any exercise so far)
	"log_correct",             // ln(1 + correct answers at any exercise so far)
	"log_exercise_attempts",   // ln(1 + attempts at this exercise so far), not capped at 20
	"log_exercise_correct",    // ln(1 + correct answers at this exercise so far), not capped
	"log_exercise_gap",        // ln(1 + seconds since the last attempt at this exercise), 0 if none
	"exercise_first",          // 1 if the student has not attempted this exercise before, else 0
	"previous_correct",        // +1 if the student's previous attempt (any exercise) was correct, -1 if wrong, 0 if none
	"recent_correct",          // ewma_10 over the answers at every exercise (RecentWeight, RecentSeed): how the student has done lately, anywhere
}

// recent_correct is an exponentially weighted moving average of the
// student's answers at every exercise, oldest first from RecentSeed: Khan's
// ewma_10 (see ExerciseState.EWMA) over the whole history rather than the
// last 20 answers at one exercise. It counts answers, not time, so it means
// the same whether timestamps are real or not.
const (
	// RecentWeight is the weight of the newest answer.
	RecentWeight = 0.1
	// RecentSeed is the value before any answer: even odds, where Khan's
	// EWMASeed (0.9) assumes a student who mostly answers right. On
	// ASSISTments it scores better (see the README).
	RecentSeed = 0.5
)

// totals is what the extended features keep of a student's history on
// one exercise beyond its ExerciseState.
type totals struct {
	attempts, correct int
	last              time.Time
}

// Extras writes into dst (NumStudentExtras values) the features of the
// student's whole history before attempt l, in the order of ExtraNames[1:].
func (s *Student) Extras(l ProblemLog, dst []float64) {
	_ = dst[NumStudentExtras-1]
	dst[0] = math.Log1p(float64(s.attempts))
	dst[1] = math.Log1p(float64(s.correct))
	e := s.exercises[l.Exercise]
	if e == nil || e.totals.attempts == 0 {
		dst[2], dst[3], dst[4], dst[5] = 0, 0, 0, 1
	} else {
		dst[2] = math.Log1p(float64(e.totals.attempts))
		dst[3] = math.Log1p(float64(e.totals.correct))
		dst[4] = math.Log1p(max(l.TimeDone.Sub(e.totals.last).Seconds(), 0))
		dst[5] = 0
	}
	dst[6] = float64(s.previous)
	dst[7] = s.recent
}

// Difficulty smoothing.
const (
	// DifficultyPrior is how many answers at the exercise's rate a problem
	// type's rate starts from: a type seen by few students is not judged on
	// them alone.
	DifficultyPrior = 5
	// DifficultyFolds is the number of groups of students the training
	// answers are split into, by UserFold: a training row's difficulty is
	// estimated on the other groups' answers, so its own answer (and its
	// student's) never says how hard its problem was.
	DifficultyFolds = 5
)

// UserFold returns the group of students (0 to DifficultyFolds-1) a user
// belongs to: FNV-1a (32 bits) of the user id, modulo DifficultyFolds.
func UserFold(user string) uint8 {
	h := uint32(2166136261)
	for i := 0; i < len(user); i++ {
		h = (h ^ uint32(user[i])) * 16777619
	}
	return uint8(h % DifficultyFolds)
}

// DifficultyCounts counts one exercise's training answers per problem type
// and per fold of students, to estimate how hard each problem type is:
//
//	difficulty = logit((correct + DifficultyPrior·p) / (answers + DifficultyPrior))
//
// where p = (exercise's correct + 1/2) / (exercise's answers + 1). The zero
// value is empty and ready to use.
type DifficultyCounts struct {
	types map[string]*[DifficultyFolds][2]int // per fold: answers, correct
	all   [DifficultyFolds][2]int             // the exercise's
}

// Add counts one answer to a problem type by a student of fold.
func (c *DifficultyCounts) Add(problemType string, fold uint8, correct bool) {
	if c.types == nil {
		c.types = map[string]*[DifficultyFolds][2]int{}
	}
	t := c.types[problemType]
	if t == nil {
		t = new([DifficultyFolds][2]int)
		c.types[problemType] = t
	}
	ok := 0
	if correct {
		ok = 1
	}
	t[fold][0]++
	t[fold][1] += ok
	c.all[fold][0]++
	c.all[fold][1] += ok
}

// sum adds up the folds other than skip (DifficultyFolds: none skipped).
func sum(f *[DifficultyFolds][2]int, skip int) (answers, correct int) {
	for i := range f {
		if i != skip {
			answers += f[i][0]
			correct += f[i][1]
		}
	}
	return answers, correct
}

func difficulty(answers, correct int, exerciseRate float64) float64 {
	p := (float64(correct) + DifficultyPrior*exerciseRate) / (float64(answers) + DifficultyPrior)
	return math.Log(p / (1 - p))
}

func exerciseRate(answers, correct int) float64 {
	return (float64(correct) + 0.5) / (float64(answers) + 1)
}

// OutOfFold returns a problem type's difficulty estimated on the answers of
// the students of every fold but fold: the feature of a training row.
func (c *DifficultyCounts) OutOfFold(problemType string, fold uint8) float64 {
	rate := exerciseRate(sum(&c.all, int(fold)))
	t := c.types[problemType]
	if t == nil {
		return difficulty(0, 0, rate)
	}
	n, k := sum(t, int(fold))
	return difficulty(n, k, rate)
}

// Table returns every problem type's difficulty estimated on all the
// answers, and the difficulty of a problem type with none: the exercise's
// logit rate. They are what a model predicts new students with.
func (c *DifficultyCounts) Table() (byType map[string]float64, unseen float64) {
	rate := exerciseRate(sum(&c.all, DifficultyFolds))
	byType = make(map[string]float64, len(c.types))
	for name, t := range c.types {
		n, k := sum(t, DifficultyFolds)
		byType[name] = difficulty(n, k, rate)
	}
	return byType, difficulty(0, 0, rate)
}

// Expand writes into x (Dim() values) the features of a compact row: the
// ExerciseState before the attempt, with Extended the problem type's
// difficulty and the student's Extras, and the component vectors the
// KnowledgeState sums, in the order they were added. For Khan2014 it is
// ExpandFeatures.
func (f FeatureSet) Expand(history *ExerciseState, difficulty float64, extras []float64, knowledge [][]float64, x []float64) {
	_ = x[f.Dim()-1]
	x[0] = 1
	history.Features(x[1 : 1+NumExerciseFeatures])
	ks := x[1+NumExerciseFeatures:]
	if f == Extended {
		x[1+NumExerciseFeatures] = difficulty
		copy(x[2+NumExerciseFeatures:], extras[:NumStudentExtras])
		ks = x[1+NumExerciseFeatures+NumExtras:]
	}
	var k KnowledgeState
	for _, v := range knowledge {
		k.Add(v)
	}
	copy(ks, k[:])
}

// FeaturesOf writes into x (f.Dim() values) the features the model of
// feature set f predicts attempt l from, before it is applied; difficulty
// is l's problem type's (Extended only).
func (s *Student) FeaturesOf(f FeatureSet, l ProblemLog, difficulty float64, x []float64) {
	_ = x[f.Dim()-1]
	var head [NumFeatures]float64
	s.Features(l.Exercise, &head)
	if f != Extended {
		copy(x, head[:])
		return
	}
	copy(x, head[:1+NumExerciseFeatures])
	x[1+NumExerciseFeatures] = difficulty
	s.Extras(l, x[2+NumExerciseFeatures:1+NumExerciseFeatures+NumExtras])
	copy(x[1+NumExerciseFeatures+NumExtras:], head[1+NumExerciseFeatures:])
}
