package bqsource

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// The six fields, in the order of columnNames.
const (
	fUser = iota
	fTimeDone
	fExercise
	fProblemType
	fProblemNumber
	fCorrect
	numFields
)

var fieldNames = [numFields]string{"user", "time_done", "exercise", "problem_type", "problem_number", "correct"}

func columnNames(c problemlogs.Columns) [numFields]string {
	return [numFields]string{c.User, c.TimeDone, c.Exercise, c.ProblemType, c.ProblemNumber, c.Correct}
}

// kind is a column's type as the conversion sees it.
type kind uint8

const (
	kOther kind = iota
	kString
	kInt
	kFloat
	kBool
	kTime // TIMESTAMP, or DATETIME taken as UTC
)

// allowed lists the kinds each field accepts, and how to say so.
var allowed = [numFields]struct {
	kinds []kind
	want  string
}{
	fUser:          {[]kind{kString, kInt}, "STRING or INT64"},
	fTimeDone:      {[]kind{kTime, kString}, "TIMESTAMP, DATETIME or STRING"},
	fExercise:      {[]kind{kString, kInt}, "STRING or INT64"},
	fProblemType:   {[]kind{kString, kInt}, "STRING or INT64"},
	fProblemNumber: {[]kind{kInt, kString, kFloat}, "INT64, STRING or FLOAT64"},
	fCorrect:       {[]kind{kBool, kInt, kString}, "BOOL, INT64 or STRING"},
}

// column is one column of a result: its name, its kind and its type's name.
type column struct {
	name string
	kind kind
	typ  string
}

// MissingColumnError says that a result lacks one of the six columns.
type MissingColumnError struct {
	Field  string   // the ProblemLog field, e.g. "time_done"
	Column string   // the column it is mapped to
	Have   []string // the result's columns
}

// Error names the column and lists the result's.
func (e *MissingColumnError) Error() string {
	s := fmt.Sprintf("bqsource: the result has no column %q", e.Column)
	if e.Column != e.Field {
		s += fmt.Sprintf(" (for %s)", e.Field)
	}
	return s + "; it has " + strings.Join(e.Have, ", ")
}

// ColumnTypeError says that one of the six columns has a type it cannot be
// read from.
type ColumnTypeError struct {
	Column string
	Type   string // the column's type
	Want   string // the types accepted
}

// Error names the column, its type and the types accepted.
func (e *ColumnTypeError) Error() string {
	return fmt.Sprintf("bqsource: column %q is %s, want %s", e.Column, e.Type, e.Want)
}

// resolve finds the six columns in a result's columns (an exact name first,
// else the first that matches ignoring case, as BigQuery does), and checks
// their types. It returns their positions.
func resolve(cols problemlogs.Columns, have []column) ([numFields]int, error) {
	var idx [numFields]int
	for f, name := range columnNames(cols) {
		idx[f] = -1
		for i, c := range have {
			if c.name == name {
				idx[f] = i
				break
			}
		}
		if idx[f] < 0 {
			for i, c := range have {
				if strings.EqualFold(c.name, name) {
					idx[f] = i
					break
				}
			}
		}
		if idx[f] < 0 {
			names := make([]string, len(have))
			for i, c := range have {
				names[i] = c.name
			}
			return idx, &MissingColumnError{Field: fieldNames[f], Column: name, Have: names}
		}
		c := have[idx[f]]
		ok := false
		for _, k := range allowed[f].kinds {
			ok = ok || c.kind == k
		}
		if !ok {
			return idx, &ColumnTypeError{Column: c.name, Type: c.typ, Want: allowed[f].want}
		}
	}
	return idx, nil
}

// cell is one value of a row, whichever path it came from.
type cell struct {
	null bool
	kind kind
	s    string // kString; may alias a buffer that is reused
	i    int64
	f    float64
	b    bool
	t    time.Time
}

// internLimit bounds a converter's table of strings.
const internLimit = 1 << 18

// converter turns rows of cells into ProblemLogs. It interns the users,
// exercises and problem types, which repeat from row to row, and copies them
// out of the cells (whose strings may alias a decoder's buffers).
type converter struct {
	cols   problemlogs.Columns
	names  [numFields]string // the columns, for the details of RowErrors
	intern map[string]string
	buf    []byte
}

func newConverter(cols problemlogs.Columns) *converter {
	return &converter{cols: cols, names: columnNames(cols), intern: make(map[string]string)}
}

// str returns a copy of s shared by all equal strings (s may alias a buffer
// that is reused).
func (cv *converter) str(s string) string {
	if v, ok := cv.intern[s]; ok {
		return v
	}
	if len(s) > features.MaxNameBytes {
		return strings.Clone(s) // the row is bad (CheckNames): keep it out of the table
	}
	if len(cv.intern) >= internLimit {
		clear(cv.intern)
	}
	v := strings.Clone(s)
	cv.intern[v] = v
	return v
}

// text returns a string field (user, exercise, problem_type), or false when it
// is missing.
func (cv *converter) text(c *cell) (string, bool) {
	switch c.kind {
	case kString:
		if strings.TrimSpace(c.s) == "" {
			return "", false
		}
		return cv.str(c.s), true
	case kInt:
		cv.buf = strconv.AppendInt(cv.buf[:0], c.i, 10)
		if v, ok := cv.intern[string(cv.buf)]; ok { // no allocation
			return v, true
		}
		return cv.str(string(cv.buf)), true
	}
	return "", false
}

// convert turns the six cells of a row, in field order, into a ProblemLog or a
// *problemlogs.RowError: for a missing or unreadable value, or, as the file
// parsers do (problemlogs.CheckNames), for a user, exercise or problem type
// that could never be stored.
func (cv *converter) convert(cells *[numFields]cell) (features.ProblemLog, error) {
	for f := range cells {
		c := &cells[f]
		if c.null || c.kind == kString && strings.TrimSpace(c.s) == "" {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonMissing, Detail: cv.names[f]}
		}
	}
	var log features.ProblemLog
	var ok bool
	if log.User, ok = cv.text(&cells[fUser]); !ok {
		return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonMissing, Detail: cv.names[fUser]}
	}
	if log.Exercise, ok = cv.text(&cells[fExercise]); !ok {
		return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonMissing, Detail: cv.names[fExercise]}
	}
	if log.ProblemType, ok = cv.text(&cells[fProblemType]); !ok {
		return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonMissing, Detail: cv.names[fProblemType]}
	}

	switch c := &cells[fTimeDone]; c.kind {
	case kTime:
		if !features.TimeInRange(c.t) {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonTime, Detail: describe(c)}
		}
		log.TimeDone = c.t.UTC()
	case kString:
		t, err := problemlogs.ParseTime(c.s)
		if err != nil {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonTime, Detail: errline.Quote(c.s)}
		}
		log.TimeDone = t
	default:
		return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonTime, Detail: describe(c)}
	}

	switch c := &cells[fProblemNumber]; c.kind {
	case kInt:
		if int64(int(c.i)) != c.i {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonProblemNumber, Detail: describe(c)}
		}
		log.ProblemNumber = int(c.i)
	case kString:
		n, err := strconv.Atoi(strings.TrimSpace(c.s))
		if err != nil {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonProblemNumber, Detail: errline.Quote(c.s)}
		}
		log.ProblemNumber = n
	case kFloat:
		if c.f != math.Trunc(c.f) || math.Abs(c.f) > 1<<53 { // also NaN and ±Inf
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonProblemNumber, Detail: describe(c)}
		}
		log.ProblemNumber = int(c.f)
	default:
		return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonProblemNumber, Detail: describe(c)}
	}

	switch c := &cells[fCorrect]; c.kind {
	case kBool:
		log.Correct = c.b
	case kInt:
		if c.i != 0 && c.i != 1 {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonCorrect, Detail: describe(c)}
		}
		log.Correct = c.i == 1
	case kString:
		b, err := problemlogs.ParseCorrect(c.s)
		if err != nil {
			return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonCorrect, Detail: errline.Quote(c.s)}
		}
		log.Correct = b
	default:
		return features.ProblemLog{}, &problemlogs.RowError{Reason: problemlogs.ReasonCorrect, Detail: describe(c)}
	}
	if err := problemlogs.CheckNames(log, cv.cols); err != nil {
		return features.ProblemLog{}, err
	}
	return log, nil
}

// describe writes a cell's value for a RowError's detail.
func describe(c *cell) string {
	switch c.kind {
	case kString:
		return errline.Quote(c.s)
	case kInt:
		return strconv.FormatInt(c.i, 10)
	case kFloat:
		return strconv.FormatFloat(c.f, 'g', -1, 64)
	case kBool:
		return strconv.FormatBool(c.b)
	case kTime:
		return c.t.UTC().Format(time.RFC3339Nano)
	}
	return "a value of an unexpected type"
}
