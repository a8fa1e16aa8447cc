package problemlogs

import "github.com/kmtrain/knowledgemodel/features"

// Reasons a row's user, exercise or problem type is bad (CheckNames). Their
// limits are features.MaxUserBytes, features.MaxExerciseBytes and
// features.MaxProblemTypeBytes.
const (
	ReasonInvalidUTF8 = features.NameInvalidUTF8
	ReasonControl     = features.NameControl
	ReasonTooLong     = features.NameTooLong
)

// CheckNames reports, as a *RowError, why a log's user, exercise or problem
// type could never be stored, or nil: an empty value (ReasonMissing), invalid
// UTF-8 (ReasonInvalidUTF8), a control character such as NUL
// (ReasonControl), or one longer than its limit (ReasonTooLong). cols names
// the columns, for the error's detail. Every source of ProblemLogs (the file
// parsers here, BigQuery's rows in package bqsource) checks its logs with it,
// so that such a row is a counted bad row where it is read, not a failed
// write at the end of a run.
func CheckNames(l features.ProblemLog, cols Columns) error {
	if e := features.CheckUser(l.User); e != nil {
		return &RowError{e.Problem, cols.User + ": " + e.Detail}
	}
	if e := features.CheckExercise(l.Exercise); e != nil {
		return &RowError{e.Problem, cols.Exercise + ": " + e.Detail}
	}
	if e := features.CheckProblemType(l.ProblemType, false); e != nil {
		return &RowError{e.Problem, cols.ProblemType + ": " + e.Detail}
	}
	return nil
}
