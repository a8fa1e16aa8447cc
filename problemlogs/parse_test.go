package problemlogs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

func TestCSVParser(t *testing.T) {
	p, err := NewCSVParser([]byte("\xef\xbb\xbfcount_hints,user,time_done,exercise,problem_type,problem_number,correct\r\n"), DefaultColumns)
	if err != nil {
		t.Fatal(err)
	}
	want := features.ProblemLog{User: "u,1", TimeDone: time.Date(2014, 1, 2, 3, 4, 5, 678000000, time.UTC),
		Exercise: "ex", ProblemType: "pt", ProblemNumber: 3, Correct: true}
	tests := []struct {
		line   string
		reason string // empty: parses to want
	}{
		{`0,"u,1",2014-01-02T03:04:05.678Z,ex,pt,3,true`, ""},
		{`0,"u,1",2014-01-02 03:04:05.678 UTC,ex,pt,3,1` + "\r\n", ""},
		{`0,"u,1",2014-01-02 03:04:05.678+00:00,ex,pt,3,TRUE`, ""},
		{`0,"u,1",2014-01-02 03:04:05.678 GMT,ex,pt,3,true`, ""},
		{`0,"u,1",2014-01-02T04:04:05.678+01:00,ex,pt, 3 ,t`, ""},
		{`0,"u,1",2014-01-02T03:04:05.678Z,ex,pt,3`, ReasonColumns},
		{`0,"u,1,2014-01-02T03:04:05.678Z,ex,pt,3,true`, ReasonColumns},
		{`0,,2014-01-02T03:04:05.678Z,ex,pt,3,true`, ReasonMissing},
		{`0,u,2014-01-02T03:04:05.678Z,ex,,3,true`, ReasonMissing},
		{`0,u,01/02/2014,ex,pt,3,true`, ReasonTime},
		{`0,u,0000-01-01T00:00:00+01:00,ex,pt,3,true`, ReasonTime}, // the year -1 in UTC
		{`0,u,0001-01-01T00:00:00Z,ex,pt,3,true`, ReasonTime},      // a sentinel, outside features.TimeRange
		{`0,u,9999-12-31T23:59:59Z,ex,pt,3,true`, ReasonTime},
		{`0,u,2014-01-02 03:04:05 PST,ex,pt,3,true`, ReasonTime}, // an abbreviation, read differently by each machine's zone
		{`0,u,2014-01-02T03:04:05.678Z,ex,pt,3.5,true`, ReasonProblemNumber},
		{`0,u,2014-01-02T03:04:05.678Z,ex,pt,3,yes`, ReasonCorrect},
		{"0,u\x00,2014-01-02T03:04:05.678Z,ex,pt,3,true", ReasonControl},
		{"0,u,2014-01-02T03:04:05.678Z,e\x1bx,pt,3,true", ReasonControl},
		{"0,u,2014-01-02T03:04:05.678Z,ex,\"p\rt\",3,true", ReasonControl},
		{"0,u\xff,2014-01-02T03:04:05.678Z,ex,pt,3,true", ReasonInvalidUTF8},
		{"0,u,2014-01-02T03:04:05.678Z,\xe2\x82,pt,3,true", ReasonInvalidUTF8},
		{"0,u,2014-01-02T03:04:05.678Z," + strings.Repeat("e", 5<<20) + ",pt,3,true", ReasonTooLong},
		{"0,u,2014-01-02T03:04:05.678Z,ex," + strings.Repeat("%", 167) + ",3,true", ReasonTooLong},
		{"0," + strings.Repeat("u", 1501) + ",2014-01-02T03:04:05.678Z,ex,pt,3,true", ReasonTooLong},
	}
	for _, tt := range tests {
		got, err := p.Parse([]byte(tt.line))
		var re *RowError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%q: %v", tt.line, err)
		case tt.reason == "" && got != want:
			t.Errorf("%q: got %+v", tt.line, got)
		case tt.reason != "" && (!errors.As(err, &re) || re.Reason != tt.reason):
			t.Errorf("%q: error %v, want reason %q", tt.line, err, tt.reason)
		}
	}
}

func TestCSVHeaderMissingColumn(t *testing.T) {
	_, err := NewCSVParser([]byte("user,time_done,exercise,problem_type,correct\n"), DefaultColumns)
	var mc *MissingColumnError
	if !errors.As(err, &mc) || mc.Column != "problem_number" {
		t.Errorf("err %v, want the missing problem_number named", err)
	}
	cols, err := ParseColumns("user=student, problem_number=n")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewCSVParser([]byte("student,time_done,exercise,problem_type,n,correct\n"), cols)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := p.Parse([]byte("s,2014-01-01T00:00:00Z,e,p,2,false")); err != nil || l.User != "s" || l.ProblemNumber != 2 {
		t.Errorf("mapped columns: %+v %v", l, err)
	}
	for _, bad := range []string{"user", "nobody=x", "user="} {
		if _, err := ParseColumns(bad); err == nil {
			t.Errorf("ParseColumns(%q) accepted", bad)
		}
	}
}

func TestJSONParser(t *testing.T) {
	p := JSONParser{Columns: DefaultColumns}
	tests := []struct {
		line   string
		reason string
	}{
		{`{"user":"u","time_done":"2014-01-02 03:04:05.678 UTC","exercise":"ex","problem_type":"pt","problem_number":"3","correct":true}`, ""},
		{`{"user":"u","time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"pt","problem_number":3,"correct":"true","time_taken":12}`, ""},
		{`{"user":"u","time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"pt","problem_number":3,"correct":null}`, ReasonMissing},
		{`{"user":"u","time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"pt","correct":true}`, ReasonMissing},
		{`{"user":"u",`, ReasonJSON},
		{`[1,2]`, ReasonJSON},
		{`{"user":"u\u0000","time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"pt","problem_number":3,"correct":true}`, ReasonControl},
		{`{"user":"u","time_done":"2014-01-02T03:04:05.678Z","exercise":"ex","problem_type":"p\nt","problem_number":3,"correct":true}`, ReasonControl},
		{`{"user":"u","time_done":"2014-01-02T03:04:05.678Z","exercise":"` + strings.Repeat("x", 501) + `","problem_type":"pt","problem_number":3,"correct":true}`, ReasonTooLong},
		// encoding/json reads invalid UTF-8 in a string as U+FFFD: a valid name.
		{"{\"user\":\"u\",\"time_done\":\"2014-01-02T03:04:05.678Z\",\"exercise\":\"ex\xff\",\"problem_type\":\"pt\",\"problem_number\":3,\"correct\":true}", ""},
	}
	for _, tt := range tests {
		got, err := p.Parse([]byte(tt.line))
		var re *RowError
		switch {
		case tt.reason == "" && (err != nil || got.User != "u" || got.ProblemNumber != 3 || !got.Correct):
			t.Errorf("%s: %+v %v", tt.line, got, err)
		case tt.reason != "" && (!errors.As(err, &re) || re.Reason != tt.reason):
			t.Errorf("%s: error %v, want reason %q", tt.line, err, tt.reason)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tt := range []struct {
		name, first string
		want        Format
	}{
		{"a.csv", "{", CSV}, {"a.CSV.gz", "", CSV}, {"a.json", "user", JSON}, {"a.jsonl.gz", "", JSON},
		{"a.ndjson", "", JSON}, {"export-000", `  {"user":1}`, JSON}, {"export-000", "user,time_done", CSV},
		{"export-000", "\xef\xbb\xbf{\"user\":1}", JSON}, {"export-000", "\xef\xbb\xbfuser,time_done", CSV},
	} {
		if got := DetectFormat(tt.name, []byte(tt.first)); got != tt.want {
			t.Errorf("DetectFormat(%q, %q) = %v", tt.name, tt.first, got)
		}
	}
}

func TestCheckNames(t *testing.T) {
	ok := features.ProblemLog{User: "u", Exercise: "ex", ProblemType: "pt"}
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		l      features.ProblemLog
		reason string
		detail string
	}{
		{ok, "", ""},
		{features.ProblemLog{User: long(features.MaxUserBytes), Exercise: long(features.MaxExerciseBytes), ProblemType: long(features.MaxProblemTypeBytes)}, "", ""},
		{features.ProblemLog{User: "é✓", Exercise: "a b", ProblemType: "\u00a0"}, "", ""},
		{features.ProblemLog{User: long(features.MaxUserBytes + 1), Exercise: "ex", ProblemType: "pt"}, ReasonTooLong, "user: 1501 bytes, at most 1500"},
		{features.ProblemLog{User: "u", Exercise: long(498) + "%", ProblemType: "pt"}, ReasonTooLong, "exercise: 501 bytes escaped, at most 500"},
		{features.ProblemLog{User: "u", Exercise: long(497) + "/", ProblemType: "pt"}, "", ""},
		{features.ProblemLog{User: "u", Exercise: "ex", ProblemType: long(499) + "/"}, ReasonTooLong, "problem_type: 502 bytes escaped, at most 500"},
		{features.ProblemLog{User: "", Exercise: "ex", ProblemType: "pt"}, ReasonMissing, "user: empty"},
		{features.ProblemLog{User: "u", Exercise: "ex", ProblemType: "p\x00t"}, ReasonControl, `problem_type: '\x00' at byte 1`},
		{features.ProblemLog{User: "u", Exercise: "e\x7f", ProblemType: "pt"}, ReasonControl, `exercise: '\x7f' at byte 1`},
		{features.ProblemLog{User: "\xc3", Exercise: "ex", ProblemType: "pt"}, ReasonInvalidUTF8, "user: byte 0 is 0xc3"},
		{features.ProblemLog{User: "u", Exercise: "ex\xed\xa0\x80", ProblemType: "pt"}, ReasonInvalidUTF8, "exercise: byte 2 is 0xed"}, // a surrogate
	}
	for _, tt := range tests {
		err := CheckNames(tt.l, Columns{User: "user", Exercise: "exercise", ProblemType: "problem_type"})
		var re *RowError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("CheckNames(%.60q, %.60q, %.60q): %v", tt.l.User, tt.l.Exercise, tt.l.ProblemType, err)
		case tt.reason != "" && (!errors.As(err, &re) || re.Reason != tt.reason || re.Detail != tt.detail):
			t.Errorf("CheckNames(%.60q, %.60q, %.60q) = %v, want %s: %s", tt.l.User, tt.l.Exercise, tt.l.ProblemType, err, tt.reason, tt.detail)
		}
	}
}

func TestAppendJSONReadsBack(t *testing.T) {
	for _, l := range []features.ProblemLog{
		{User: "u1", TimeDone: time.Date(2014, 1, 2, 3, 4, 5, 678, time.UTC), Exercise: "addition_1", ProblemType: "t", ProblemNumber: 3, Correct: true},
		{User: `quo"te\`, TimeDone: time.Date(2020, 5, 6, 0, 0, 0, 0, time.FixedZone("x", 3600)), Exercise: "é", ProblemType: "0", ProblemNumber: 1},
	} {
		b := AppendJSON(nil, l)
		got, err := JSONParser{Columns: DefaultColumns}.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		l.TimeDone = l.TimeDone.UTC()
		if got != l {
			t.Errorf("%s read back as %+v, want %+v", b, got, l)
		}
	}
}
