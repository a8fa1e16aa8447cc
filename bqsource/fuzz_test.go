package bqsource

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// FuzzConvert converts rows of any values of the kinds BigQuery's paths
// deliver: kinds holds each field's kind (a byte each: null, string, int,
// float, bool, time, other), the strings its string, i, fl, b and i as Unix
// microseconds its other values. A row converts to a log whose names pass
// problemlogs.CheckNames, or to a *problemlogs.RowError with a short detail;
// a log, written back as string cells, converts to the same log.
func FuzzConvert(f *testing.F) {
	ts := time.Date(2014, 1, 2, 3, 4, 5, 678901000, time.UTC).UnixMicro()
	// kinds: 0 null, 1 string, 2 int, 3 float, 4 bool, 5 time, 6 other.
	f.Add([]byte{1, 5, 1, 1, 2, 4}, "u", "", "ex", "pt", "", "", int64(ts), 3.0, true)
	f.Add([]byte{2, 1, 2, 2, 3, 1}, "", "2014-01-02 03:04:05.678 UTC", "", "", "", "t", int64(12345678901), 4.0, false)
	f.Add([]byte{1, 1, 1, 1, 1, 2}, "u\x00", "yesterday", "ex\xff", "", " 8 ", "", int64(2), 2.5, false)
	f.Add([]byte{1, 0, 1, 1, 6, 3}, "u", "", "e/x%", "p t", "x1", "maybe", int64(-1), 1e300, true)
	f.Fuzz(func(t *testing.T, kinds []byte, user, timeS, exercise, ptype, number, correct string, i int64, fl float64, b bool) {
		strs := [numFields]string{user, timeS, exercise, ptype, number, correct}
		var cells [numFields]cell
		for fld := range cells {
			k := byte(1)
			if fld < len(kinds) {
				k = kinds[fld] % 7
			}
			c := &cells[fld]
			switch k {
			case 0:
				c.null = true
			case 1:
				c.kind, c.s = kString, strs[fld]
			case 2:
				c.kind, c.i = kInt, i+int64(fld)
			case 3:
				c.kind, c.f = kFloat, fl
			case 4:
				c.kind, c.b = kBool, b
			case 5:
				c.kind, c.t = kTime, time.UnixMicro(i).UTC()
			case 6:
				c.kind = kOther
			}
		}
		cv := newConverter(problemlogs.DefaultColumns)
		l, err := cv.convert(&cells)
		if err != nil {
			var re *problemlogs.RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want a *problemlogs.RowError", err, err)
			}
			if len(re.Detail) > 400 {
				t.Fatalf("the detail is %d bytes long: %.100q", len(re.Detail), re.Detail)
			}
			return
		}
		if err := problemlogs.CheckNames(l, problemlogs.DefaultColumns); err != nil {
			t.Fatalf("converted to %+v, whose names are bad: %v", l, err)
		}
		if l.TimeDone.Location() != time.UTC {
			t.Fatalf("time_done %v is not UTC", l.TimeDone)
		}
		back := [numFields]cell{
			{kind: kString, s: l.User}, {kind: kString, s: l.TimeDone.Format(time.RFC3339Nano)},
			{kind: kString, s: l.Exercise}, {kind: kString, s: l.ProblemType},
			{kind: kString, s: strconv.Itoa(l.ProblemNumber)}, {kind: kString, s: strconv.FormatBool(l.Correct)},
		}
		l2, err := newConverter(problemlogs.DefaultColumns).convert(&back)
		if err != nil || !sameLog(l, l2) {
			t.Fatalf("%+v, as strings, converts to %+v, %v", l, l2, err)
		}
	})
}

func sameLog(a, b features.ProblemLog) bool {
	return a.User == b.User && a.TimeDone.Equal(b.TimeDone) && a.Exercise == b.Exercise &&
		a.ProblemType == b.ProblemType && a.ProblemNumber == b.ProblemNumber && a.Correct == b.Correct
}
