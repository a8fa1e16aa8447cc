// Package problemlogs parses ProblemLogs from the formats BigQuery exports:
// CSV with a header row, and newline-delimited JSON.
//
// Parsing is line by line, so that a reader can start anywhere in a large
// file: a CSV file's header is parsed once into a CSVParser, which then parses
// any data line of that file. A line that cannot be parsed gives a *RowError
// whose Reason is a short, stable category for counting bad rows.
//
// This package knows nothing of Beam or of any cloud service.
package problemlogs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/errline"
)

// Columns names the ProblemLog fields in the input.
type Columns struct {
	User, TimeDone, Exercise, ProblemType, ProblemNumber, Correct string
}

// DefaultColumns are the names of the ProblemLog schema.
var DefaultColumns = Columns{"user", "time_done", "exercise", "problem_type", "problem_number", "correct"}

func (c Columns) names() [6]string {
	return [6]string{c.User, c.TimeDone, c.Exercise, c.ProblemType, c.ProblemNumber, c.Correct}
}

// ParseColumns reads a mapping such as "user=student_id,time_done=ts" over
// DefaultColumns. An empty string gives DefaultColumns.
func ParseColumns(s string) (Columns, error) {
	c := DefaultColumns
	if strings.TrimSpace(s) == "" {
		return c, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return c, fmt.Errorf("column mapping %q: want field=column", kv)
		}
		switch k {
		case "user":
			c.User = v
		case "time_done":
			c.TimeDone = v
		case "exercise":
			c.Exercise = v
		case "problem_type":
			c.ProblemType = v
		case "problem_number":
			c.ProblemNumber = v
		case "correct":
			c.Correct = v
		default:
			return c, fmt.Errorf("column mapping %q: unknown field %q", kv, k)
		}
	}
	return c, nil
}

// Reasons a row is bad. They are the keys of the bad-row counts in a run's
// summary.
const (
	ReasonColumns       = "wrong number of columns"
	ReasonJSON          = "malformed JSON"
	ReasonMissing       = "missing field"
	ReasonTime          = "unparsable time_done"
	ReasonProblemNumber = "unparsable problem_number"
	ReasonCorrect       = "unknown correct value"
	// ReasonInvalidUTF8, ReasonControl and ReasonTooLong (CheckNames) are
	// in names.go.
)

// RowError says why a line is not a ProblemLog.
type RowError struct {
	Reason string // one of the Reason constants
	Detail string
}

func (e *RowError) Error() string { return e.Reason + ": " + e.Detail }

// Parser parses one line of input into a ProblemLog.
type Parser interface {
	Parse(line []byte) (features.ProblemLog, error)
}

// CSVParser parses the data lines of a CSV file whose header it was made from.
// It interns users, exercises and problem types, which repeat from line to
// line, so a file's logs share one copy of each.
type CSVParser struct {
	index  [6]int // column of each field
	ncols  int
	fields [][]byte
	intern map[string]string
}

// MissingColumnError says that a header lacks a ProblemLog column.
type MissingColumnError struct {
	Column string
	Header string
}

func (e *MissingColumnError) Error() string {
	return fmt.Sprintf("header %s has no column %q", errline.Quote(e.Header), e.Column)
}

// NewCSVParser reads a CSV header line. Columns other than the six of a
// ProblemLog are allowed and ignored; a missing one is a *MissingColumnError.
func NewCSVParser(header []byte, cols Columns) (*CSVParser, error) {
	header = bytes.TrimPrefix(trimEOL(header), bom)
	names, err := splitCSV(header, nil)
	if err != nil {
		return nil, fmt.Errorf("header %s: %v", errline.Quote(string(header)), err)
	}
	p := &CSVParser{ncols: len(names), intern: map[string]string{}}
	for i, want := range cols.names() {
		p.index[i] = -1
		for j, name := range names {
			if strings.TrimSpace(string(name)) == want {
				p.index[i] = j
				break
			}
		}
		if p.index[i] < 0 {
			return nil, &MissingColumnError{Column: want, Header: string(header)}
		}
	}
	return p, nil
}

// Parse parses one data line.
func (p *CSVParser) Parse(line []byte) (features.ProblemLog, error) {
	var err error
	p.fields, err = splitCSV(trimEOL(line), p.fields[:0])
	if err != nil {
		return features.ProblemLog{}, &RowError{ReasonColumns, err.Error()}
	}
	if len(p.fields) != p.ncols {
		return features.ProblemLog{}, &RowError{ReasonColumns, fmt.Sprintf("%d columns, header has %d", len(p.fields), p.ncols)}
	}
	var raw [6]string
	for i, j := range p.index {
		switch i {
		case 0, 2, 3: // user, exercise, problem_type
			raw[i] = p.str(p.fields[j])
		default:
			raw[i] = string(p.fields[j])
		}
	}
	return fromStrings(raw, DefaultColumns)
}

// str returns b as an interned string; the lookup itself does not allocate.
func (p *CSVParser) str(b []byte) string {
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	if len(b) > features.MaxNameBytes {
		return string(b) // the row is bad (CheckNames): keep it out of the table
	}
	if len(p.intern) >= 1<<20 { // bound the table on files with many users
		clear(p.intern)
	}
	s := string(b)
	p.intern[s] = s
	return s
}

// JSONParser parses newline-delimited JSON objects, one per line.
type JSONParser struct {
	Columns Columns
}

// Parse parses one JSON line. Numbers and booleans may also be given as
// strings, as BigQuery's JSON export writes INT64 values. A byte order mark
// before the object (the first line of a file) is skipped.
func (p JSONParser) Parse(line []byte) (features.ProblemLog, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimPrefix(line, bom), &obj); err != nil {
		return features.ProblemLog{}, &RowError{ReasonJSON, err.Error()}
	}
	var raw [6]string
	for i, name := range p.Columns.names() {
		v, ok := obj[name]
		if !ok || string(v) == "null" {
			raw[i] = ""
			continue
		}
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return features.ProblemLog{}, &RowError{ReasonJSON, err.Error()}
			}
			raw[i] = s
		} else {
			raw[i] = string(v)
		}
	}
	return fromStrings(raw, p.Columns)
}

func fromStrings(raw [6]string, cols Columns) (features.ProblemLog, error) {
	names := cols.names()
	for i, v := range raw {
		if strings.TrimSpace(v) == "" {
			return features.ProblemLog{}, &RowError{ReasonMissing, names[i]}
		}
	}
	t, err := ParseTime(raw[1])
	if err != nil {
		return features.ProblemLog{}, &RowError{ReasonTime, errline.Quote(raw[1])}
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw[4]))
	if err != nil {
		return features.ProblemLog{}, &RowError{ReasonProblemNumber, errline.Quote(raw[4])}
	}
	c, err := ParseCorrect(raw[5])
	if err != nil {
		return features.ProblemLog{}, &RowError{ReasonCorrect, errline.Quote(raw[5])}
	}
	l := features.ProblemLog{User: raw[0], TimeDone: t, Exercise: raw[2], ProblemType: raw[3], ProblemNumber: n, Correct: c}
	if err := CheckNames(l, cols); err != nil {
		return features.ProblemLog{}, err
	}
	return l, nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 UTC",   // BigQuery CSV export
	"2006-01-02 15:04:05.999999999Z07:00", // BigQuery canonical
	"2006-01-02 15:04:05.999999999 GMT",
	"2006-01-02T15:04:05.999999999", // no zone: UTC
	"2006-01-02 15:04:05.999999999",
}

// ParseTime parses a time_done as RFC 3339 or in BigQuery's formats
// ("2014-01-02 03:04:05.678 UTC"). A time without a zone is UTC; a zone is
// an offset, Z, UTC or GMT, never an abbreviation such as PST, which Go
// reads as UTC unless the machine's own zone knows it (so workers would
// disagree). The time must fall in features.TimeRange: with an offset,
// "0000-01-01T00:00:00+01:00" is in the year -1, which no export (rows CSV,
// predictions) could write readably.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			if !features.TimeInRange(t) {
				break
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable time %s", errline.Quote(s))
}

// ParseCorrect reads true/false, t/f, 1/0 in any case.
func ParseCorrect(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1":
		return true, nil
	case "false", "f", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// splitCSV splits one CSV record (RFC 4180 quoting, no embedded newlines),
// appending the fields to dst. Quoted fields are unescaped into new slices.
func splitCSV(line []byte, dst [][]byte) ([][]byte, error) {
	for {
		if len(line) > 0 && line[0] == '"' {
			var field []byte
			i := 1
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return dst, errors.New("unterminated quoted field")
				}
				field = append(field, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' {
					field = append(field, '"')
					i++
					continue
				}
				break
			}
			dst = append(dst, field)
			line = line[i:]
			if len(line) == 0 {
				return dst, nil
			}
			if line[0] != ',' {
				return dst, errors.New("text after a quoted field")
			}
			line = line[1:]
			continue
		}
		j := bytes.IndexByte(line, ',')
		if j < 0 {
			return append(dst, line), nil
		}
		dst = append(dst, line[:j])
		line = line[j+1:]
	}
}
