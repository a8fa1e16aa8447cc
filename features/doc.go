// Package features computes the inputs of Khan Academy's 2014 knowledge model.
//
// The model predicts whether a student answers the next problem of an exercise
// correctly from 107 features: a bias (always 1), six features of the
// student's history on that exercise (ExerciseState), and a 100-dimensional
// KnowledgeState that sums one fixed random component vector for every
// exercise the student has started. Each exercise has its own 107 thetas.
//
// A Student replays one student's ProblemLogs in chronological order. Before
// each attempt it can report the attempt's features; after it, Apply folds the
// attempt into the state. Replay does both for a whole history and emits one
// Row per sampled attempt.
//
// The definitions follow Khan Academy's accuracy_model code exactly; the
// conformance case in testdata/khan2014 checks them to within 1e-9.
//
// FeatureSet Extended adds NumExtras features (ExtraNames) between the
// ExerciseState and the KnowledgeState: a problem type's difficulty, which
// DifficultyCounts estimates on training answers, and counts and a moving
// average of the student's whole history (Student.Extras).
//
// This package knows nothing of Beam or of any cloud service.
package features

// Dimensions of the model.
const (
	// HistoryLimit is how many of the latest answers an ExerciseState keeps.
	HistoryLimit = 20
	// NumExerciseFeatures is the number of ExerciseState features.
	NumExerciseFeatures = 6
	// KnowledgeDim is the dimension of the KnowledgeState and of each component.
	KnowledgeDim = 100
	// NumFeatures is the length of a feature vector and of an exercise's
	// thetas: the bias, the ExerciseState features, the KnowledgeState.
	NumFeatures = 1 + NumExerciseFeatures + KnowledgeDim
)

// FeatureNames names the 107 features in order, as the columns of a training
// rows CSV name them ("bias" has no column there: it is always 1).
var FeatureNames = func() []string {
	names := []string{"bias", "ewma_3", "ewma_10", "current_streak", "log_num_done", "log_num_missed", "percent_correct"}
	for i := 0; i < KnowledgeDim; i++ {
		names = append(names, "ks_"+itoa(i))
	}
	return names
}()

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
