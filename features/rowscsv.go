package features

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The training-rows CSV format has one line per Row and the columns
//
//	user,exercise,problem_type,problem_number,time_done,correct,
//	ewma_3,ewma_10,current_streak,log_num_done,log_num_missed,percent_correct,
//	ks_0,...,ks_99
//
// correct is written 0 or 1, time_done in RFC 3339 UTC with microseconds
// (2014-01-22T17:35:02.852129Z), and every feature as the shortest decimal
// that parses back to the same float64. The bias X[0] has no column.

// RowsCSVTimeLayout is the layout of the time_done column.
const RowsCSVTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

var rowsCSVKeyColumns = []string{"user", "exercise", "problem_type", "problem_number", "time_done", "correct"}

// RowsCSVHeader returns the header line of a training-rows CSV, one entry per
// column: the key columns, then FeatureNames without "bias".
func RowsCSVHeader() []string {
	h := make([]string, 0, len(rowsCSVKeyColumns)+NumFeatures-1)
	h = append(h, rowsCSVKeyColumns...)
	return append(h, FeatureNames[1:]...)
}

// RowsCSVWriter writes Rows as a training-rows CSV. The header is written
// before the first row (or by Flush if there is none). Call Flush when done.
type RowsCSVWriter struct {
	w      *bufio.Writer
	buf    []byte
	header bool
}

// NewRowsCSVWriter returns a RowsCSVWriter writing to w.
func NewRowsCSVWriter(w io.Writer) *RowsCSVWriter {
	return &RowsCSVWriter{w: bufio.NewWriterSize(w, 1<<16)}
}

func (rw *RowsCSVWriter) writeHeader() error {
	rw.header = true
	b := rw.buf[:0]
	for i, c := range RowsCSVHeader() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, c)
	}
	b = append(b, '\n')
	rw.buf = b
	_, err := rw.w.Write(b)
	return err
}

// Write writes one row.
func (rw *RowsCSVWriter) Write(r Row) error {
	if !rw.header {
		if err := rw.writeHeader(); err != nil {
			return err
		}
	}
	b := rw.buf[:0]
	b = appendField(b, r.User)
	b = append(b, ',')
	b = appendField(b, r.Exercise)
	b = append(b, ',')
	b = appendField(b, r.ProblemType)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.ProblemNumber), 10)
	b = append(b, ',')
	if !r.TimeDone.IsZero() { // a row read without a time_done has none
		b = r.TimeDone.UTC().AppendFormat(b, RowsCSVTimeLayout)
	}
	if r.Correct {
		b = append(b, ",1"...)
	} else {
		b = append(b, ",0"...)
	}
	for _, v := range r.X[1:] {
		b = append(b, ',')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, '\n')
	rw.buf = b
	_, err := rw.w.Write(b)
	return err
}

// Flush writes any buffered data (and the header, if no row was written) to
// the underlying writer.
func (rw *RowsCSVWriter) Flush() error {
	if !rw.header {
		if err := rw.writeHeader(); err != nil {
			return err
		}
	}
	return rw.w.Flush()
}

// appendField appends s, quoted as encoding/csv would quote it.
func appendField(b []byte, s string) []byte {
	if !fieldNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

// fieldNeedsQuotes follows encoding/csv.Writer.
func fieldNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` || strings.ContainsAny(s, ",\"\r\n") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// ReadRowsCSV reads a training-rows CSV from r and calls fn with every row,
// in file order, stopping at the first error fn returns.
//
// Columns are found by their header names and may come in any order; other
// columns are ignored. exercise, correct and every feature column
// (FeatureNames[1:]) are required; user, problem_type, problem_number and
// time_done are read when present (an empty time_done is none, as the
// writer writes a row without one). correct may be 0, 1, true, false, True or
// False. X[0] of every row is set to 1. A malformed line gives an error with
// its line number, as does a time_done outside features.TimeRange
// (TimeInRange), which no ProblemLog can hold.
func ReadRowsCSV(r io.Reader, fn func(Row) error) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.ReuseRecord = true
	hdr, err := cr.Read()
	if err == io.EOF {
		return errors.New("rows csv: empty input, no header")
	}
	if err != nil {
		return fmt.Errorf("rows csv: header: %w", err)
	}
	hdr = slices.Clone(hdr) // the reader reuses its record
	col := make(map[string]int, len(hdr))
	for i, h := range hdr {
		if _, dup := col[h]; dup {
			return fmt.Errorf("rows csv: header: duplicate column %q", h)
		}
		col[h] = i
	}
	find := func(name string, required bool) (int, error) {
		i, ok := col[name]
		if !ok {
			if required {
				return -1, fmt.Errorf("rows csv: header: missing column %q", name)
			}
			return -1, nil
		}
		return i, nil
	}
	var ixUser, ixEx, ixType, ixNum, ixTime, ixCorrect int
	for _, c := range []struct {
		name     string
		ix       *int
		required bool
	}{
		{"user", &ixUser, false},
		{"exercise", &ixEx, true},
		{"problem_type", &ixType, false},
		{"problem_number", &ixNum, false},
		{"time_done", &ixTime, false},
		{"correct", &ixCorrect, true},
	} {
		if *c.ix, err = find(c.name, c.required); err != nil {
			return err
		}
	}
	var ixFeat [NumFeatures]int
	for j := 1; j < NumFeatures; j++ {
		if ixFeat[j], err = find(FeatureNames[j], true); err != nil {
			return err
		}
	}

	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("rows csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		bad := func(ix int, err error) error {
			return fmt.Errorf("rows csv: line %d: column %s: %w", line, hdr[ix], err)
		}
		var row Row
		if ixUser >= 0 {
			row.User = rec[ixUser]
		}
		row.Exercise = rec[ixEx]
		if ixType >= 0 {
			row.ProblemType = rec[ixType]
		}
		if ixNum >= 0 {
			n, err := strconv.Atoi(rec[ixNum])
			if err != nil {
				return bad(ixNum, err)
			}
			row.ProblemNumber = n
		}
		if ixTime >= 0 && rec[ixTime] != "" {
			t, err := time.Parse(time.RFC3339Nano, rec[ixTime])
			if err != nil {
				return bad(ixTime, err)
			}
			// The zero time is no time, as the writer once wrote it.
			if !t.IsZero() && !TimeInRange(t) {
				return bad(ixTime, fmt.Errorf("%s is outside %s", t.UTC(), TimeRange))
			}
			row.TimeDone = t.UTC()
		}
		switch rec[ixCorrect] {
		case "1", "true", "True":
			row.Correct = true
		case "0", "false", "False":
		default:
			return bad(ixCorrect, fmt.Errorf("invalid value %q", rec[ixCorrect]))
		}
		row.X[0] = 1
		for j := 1; j < NumFeatures; j++ {
			v, err := strconv.ParseFloat(rec[ixFeat[j]], 64)
			if err != nil {
				return bad(ixFeat[j], err)
			}
			row.X[j] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}
