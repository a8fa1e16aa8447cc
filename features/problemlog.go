package features

import (
	"math"
	"time"
)

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

// TimeInRange reports whether t falls in TimeRange: what int64 nanoseconds
// since 1970 hold, as every binary encoding of a ProblemLog (the pipeline's
// batches, the student's state) stores its time, and what RFC 3339 can
// write. A ProblemLog's time_done must, wherever it is read
// (problemlogs.ParseTime, BigQuery's rows, ReadRowsCSV): a time outside it
// (a sentinel such as 0001-01-01 or 9999-12-31) is a bad row, not a time
// silently turned into another.
func TimeInRange(t time.Time) bool {
	return !t.Before(minTime) && !t.After(maxTime)
}

// The whole seconds inside what int64 nanoseconds hold, so that a time cut
// to fewer digits (the rows CSV writes microseconds) is still in range.
var (
	minTime = time.Unix(math.MinInt64/int64(time.Second), 0).UTC() // truncated towards 0: inside
	maxTime = time.Unix(math.MaxInt64/int64(time.Second), 0).UTC()
)

// TimeRange describes the times TimeInRange accepts, for error messages.
const TimeRange = "1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z"
