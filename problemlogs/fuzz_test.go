package problemlogs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// The fuzz tests' property: whatever the input, parsing returns a log whose
// names pass CheckNames, or a *RowError with one of the reasons and a short
// detail; a log formatted back into the format parses to the same log.

var reasons = map[string]bool{
	ReasonColumns: true, ReasonJSON: true, ReasonMissing: true, ReasonTime: true, ReasonProblemNumber: true,
	ReasonCorrect: true, ReasonInvalidUTF8: true, ReasonControl: true, ReasonTooLong: true,
}

// maxDetail bounds a RowError's detail: a quoted value (errline.Quote) or an
// error of encoding/json, never the input itself.
const maxDetail = 400

// checkParsed checks the result of parsing one line.
func checkParsed(t *testing.T, line []byte, l features.ProblemLog, err error) {
	t.Helper()
	if err != nil {
		var re *RowError
		if !errors.As(err, &re) {
			t.Fatalf("%q: error %v (%T), want a *RowError", line, err, err)
		}
		if !reasons[re.Reason] {
			t.Fatalf("%q: unknown reason %q", line, re.Reason)
		}
		if len(re.Detail) > maxDetail {
			t.Fatalf("%.100q: the detail is %d bytes long: %.100q", line, len(re.Detail), re.Detail)
		}
		return
	}
	if err := CheckNames(l, DefaultColumns); err != nil {
		t.Fatalf("%q: parsed to %+v, whose names are bad: %v", line, l, err)
	}
	if l.TimeDone.Location() != time.UTC {
		t.Fatalf("%q: time_done %v is not UTC", line, l.TimeDone)
	}
}

func sameLog(a, b features.ProblemLog) bool {
	return a.User == b.User && a.TimeDone.Equal(b.TimeDone) && a.Exercise == b.Exercise &&
		a.ProblemType == b.ProblemType && a.ProblemNumber == b.ProblemNumber && a.Correct == b.Correct
}

// formatCSV writes a log as a data line of the default header, as
// encoding/csv quotes it.
func formatCSV(l features.ProblemLog) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{l.User, l.TimeDone.Format(time.RFC3339Nano), l.Exercise, l.ProblemType,
		strconv.Itoa(l.ProblemNumber), strconv.FormatBool(l.Correct)})
	w.Flush()
	return b.Bytes()
}

const defaultHeader = "user,time_done,exercise,problem_type,problem_number,correct"

func FuzzCSV(f *testing.F) {
	f.Add(defaultHeader, "u,2014-01-02T03:04:05.678Z,ex,pt,3,true")
	f.Add("\xef\xbb\xbfcount_hints,user,time_done,exercise,problem_type,problem_number,correct\r\n", `0,"u,1",2014-01-02 03:04:05.678 UTC,ex,pt,3,1`+"\r\n")
	f.Add(defaultHeader, `"u ""q""",2014-01-02 03:04:05.678+00:00,ex,pt, 3 ,TRUE`)
	f.Add(defaultHeader, "u\x00,2014-01-02T03:04:05Z,ex,pt,1,f")
	f.Add(defaultHeader, "u,2014-01-02T03:04:05Z,e\xffx,pt,1,0")
	f.Add(defaultHeader, "u,2014-01-02T03:04:05Z,"+strings.Repeat("%", 200)+",pt,1,0")
	f.Add(defaultHeader, `u,"2014-01-02T03:04:05Z,ex,pt,1,0`)
	f.Add(defaultHeader, "u,0001-01-01T00:00:00+01:00,ex,pt,1,0")
	f.Add("user,time_done,exercise", "u,2014-01-02T03:04:05Z,ex")
	f.Fuzz(func(t *testing.T, header, line string) {
		p, err := NewCSVParser([]byte(header), DefaultColumns)
		if err != nil {
			if len(err.Error()) > 2*maxDetail {
				t.Fatalf("header error is %d bytes long", len(err.Error()))
			}
			return
		}
		l, err := p.Parse([]byte(line))
		checkParsed(t, []byte(line), l, err)
		if err != nil {
			return
		}
		def, err := NewCSVParser([]byte(defaultHeader), DefaultColumns)
		if err != nil {
			t.Fatal(err)
		}
		again := formatCSV(l)
		l2, err := def.Parse(again)
		if err != nil || !sameLog(l, l2) {
			t.Fatalf("%q parsed to %+v, formatted as %q, which parses to %+v, %v", line, l, again, l2, err)
		}
	})
}

// formatJSON writes a log as one JSON object.
func formatJSON(l features.ProblemLog) []byte {
	b, _ := json.Marshal(map[string]any{"user": l.User, "time_done": l.TimeDone.Format(time.RFC3339Nano),
		"exercise": l.Exercise, "problem_type": l.ProblemType, "problem_number": l.ProblemNumber, "correct": l.Correct})
	return b
}

func FuzzJSON(f *testing.F) {
	f.Add(`{"user":"u","time_done":"2014-01-02 03:04:05.678 UTC","exercise":"ex","problem_type":"pt","problem_number":"3","correct":true}`)
	f.Add(`{"user":12,"time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"pt","problem_number":3,"correct":"true","time_taken":12}`)
	f.Add(`{"user":"u","time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"pt","problem_number":3,"correct":null}`)
	f.Add(`{"user":"u\u0000","time_done":"2014-01-02T03:04:05Z","exercise":"ex","problem_type":"pt","problem_number":3,"correct":1}`)
	f.Add(`{"user":[1,2],"time_done":"2014-01-02T03:04:05Z","exercise":{"a":1},"problem_type":"pt","problem_number":3,"correct":0}`)
	f.Add(`{"user":"u",`)
	f.Fuzz(func(t *testing.T, line string) {
		p := JSONParser{Columns: DefaultColumns}
		l, err := p.Parse([]byte(line))
		checkParsed(t, []byte(line), l, err)
		if err != nil {
			return
		}
		again := formatJSON(l)
		l2, err := p.Parse(again)
		if err != nil || !sameLog(l, l2) {
			t.Fatalf("%q parsed to %+v, formatted as %q, which parses to %+v, %v", line, l, again, l2, err)
		}
	})
}

// FuzzRead reads whole files, of either format.
func FuzzRead(f *testing.F) {
	f.Add("logs.csv", []byte(defaultHeader+"\nu,2014-01-02T03:04:05Z,ex,pt,1,true\n\nu,bad,ex,pt,1,true\r\n"))
	f.Add("logs.json", []byte(`{"user":"u","time_done":"2014-01-02T03:04:05Z","exercise":"ex","problem_type":"pt","problem_number":1,"correct":true}`+"\n{\n"))
	f.Add("export-000", []byte(` {"user":"u"}`))
	f.Add("logs.csv", []byte("user,time_done\n"))
	f.Add("logs.csv", []byte(""))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		lines := 0
		err := Read(bytes.NewReader(data), name, DefaultColumns, func(line int, l features.ProblemLog, err error) error {
			if line <= lines {
				t.Fatalf("line %d after line %d", line, lines)
			}
			lines = line
			checkParsed(t, nil, l, err)
			return nil
		})
		var mc *MissingColumnError
		if err != nil && !errors.As(err, &mc) && !strings.Contains(err.Error(), "header") && !strings.Contains(err.Error(), "token too long") {
			t.Fatalf("Read: %v", err)
		}
	})
}
