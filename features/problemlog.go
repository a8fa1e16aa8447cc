package features

import "time"

// ProblemLog is one attempt by one student at one problem of one exercise.
type ProblemLog struct {
	User          string
	TimeDone      time.Time
	Exercise      string
	ProblemType   string
	ProblemNumber int
	Correct       bool
}

// Row is one training example: the features of an attempt computed before the
// attempt is applied, and whether it was answered correctly.
type Row struct {
	User          string
	Exercise      string
	ProblemType   string
	ProblemNumber int
	TimeDone      time.Time
	Correct       bool
	// X is the feature vector: X[0] is the bias (1), X[1:7] the ExerciseState
	// features, X[7:] the KnowledgeState.
	X [NumFeatures]float64

	// The same features, compactly: the ExerciseState before the attempt and
	// the keys of the components the KnowledgeState sums, in the order they
	// were added (ExpandFeatures turns them into X). Knowledge is shared with
	// the replay: copy it to keep it beyond the emit call.
	History   ExerciseState
	Knowledge []ComponentKey

	// Extras are the extended features of the student's history
	// (Student.Extras), with ReplayOptions.Features = Extended.
	Extras [NumStudentExtras]float64
}

// TimeInRange reports whether t, in UTC, falls in the years 0000-9999, which
// RFC 3339 can write. A ProblemLog's time_done must, wherever it is read
// (problemlogs.ParseTime, BigQuery's rows, ReadRowsCSV), so that every
// export of it reads back.
func TimeInRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}
