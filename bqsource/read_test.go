package bqsource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/bqsource/bqfake"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// result is what a read gave for one row.
type result struct {
	Log            features.ProblemLog
	Reason, Detail string
}

func (r result) String() string {
	if r.Reason != "" {
		return r.Reason + ": " + r.Detail
	}
	l := r.Log
	return fmt.Sprintf("%s %s %s %s %d %v", l.User, l.TimeDone.Format(time.RFC3339Nano), l.Exercise, l.ProblemType, l.ProblemNumber, l.Correct)
}

func collect(t *testing.T, out *[]result) func(features.ProblemLog, error) error {
	return func(l features.ProblemLog, err error) error {
		if err != nil {
			var re *problemlogs.RowError
			if !errors.As(err, &re) {
				t.Errorf("row error %v (%T), want a *problemlogs.RowError", err, err)
				return nil
			}
			*out = append(*out, result{Reason: re.Reason, Detail: re.Detail})
			return nil
		}
		if l.TimeDone.Location() != time.UTC {
			t.Errorf("time_done %v not in UTC", l.TimeDone)
		}
		*out = append(*out, result{Log: l})
		return nil
	}
}

func context10s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// read runs c and reads its plan on whichever path it chose, the streams
// concurrently, and returns the rows in stream order.
func read(t *testing.T, c bqsource.Config) (bqsource.Plan, []result) {
	t.Helper()
	ctx := context10s(t)
	p, err := bqsource.Run(ctx, c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	switch p.Path {
	case bqsource.PathREST:
		var out []result
		if err := bqsource.ReadREST(ctx, c, p, collect(t, &out)); err != nil {
			t.Fatalf("ReadREST: %v", err)
		}
		return p, out
	case bqsource.PathStorage:
		outs := make([][]result, len(p.Streams))
		errs := make([]error, len(p.Streams))
		var wg sync.WaitGroup
		for i, st := range p.Streams {
			wg.Go(func() { errs[i] = bqsource.ReadStream(ctx, c, p.Schema, st, collect(t, &outs[i])) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("ReadStream: %v", err)
		}
		return p, slices.Concat(outs...)
	}
	t.Fatalf("plan path %q", p.Path)
	return p, nil
}

func fld(name, typ string) bqfake.Field { return bqfake.Field{Name: name, Type: typ} }

var t0 = time.Date(2014, 1, 2, 3, 4, 5, 678901000, time.UTC)

// logRows makes n rows of the default schema, and the logs they are.
func logRows(n int) ([][]any, []result) {
	var rows [][]any
	var want []result
	for i := range n {
		l := features.ProblemLog{
			User: fmt.Sprintf("u%d", i%7), TimeDone: t0.Add(time.Duration(i) * time.Minute),
			Exercise: fmt.Sprintf("ex%d", i%3), ProblemType: "pt", ProblemNumber: i + 1, Correct: i%4 != 0,
		}
		rows = append(rows, []any{l.User, l.TimeDone, l.Exercise, l.ProblemType, l.ProblemNumber, l.Correct})
		want = append(want, result{Log: l})
	}
	return rows, want
}

func paths() []struct {
	name string
	max  int64
} {
	return []struct {
		name string
		max  int64
	}{{"rest", 0}, {"storage", -1}}
}

func TestRESTPaging(t *testing.T) {
	s := bqfake.New(t)
	s.SetPageSize(3)
	rows, want := logRows(7)
	s.AddTable("src.ds.logs", bqfake.Schema(), rows)
	c := s.Config()
	c.Table = "src.ds.logs"
	p, got := read(t, c)
	if p.Path != bqsource.PathREST || p.Rows != 7 {
		t.Errorf("plan %+v, want REST of 7 rows", p)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n%v\nwant\n%v", got, want)
	}
	var tokens []string
	for _, r := range s.ListRequests() {
		if r.Table != p.Table || !r.UseInt64Timestamp {
			t.Errorf("tabledata.list %+v: want table %s with useInt64Timestamp", r, p.Table)
		}
		tokens = append(tokens, r.PageToken)
	}
	if want := []string{"", "row-3", "row-6"}; !reflect.DeepEqual(tokens, want) {
		t.Errorf("page tokens %q, want %q", tokens, want)
	}
	q := s.Queries()
	if len(q) != 1 || q[0].Project != bqfake.Project || q[0].SQL != allCols+"`src.ds.logs`" || q[0].UseLegacySQL {
		t.Errorf("queries %+v", q)
	}
	if got, want := s.Calls(), []string{"jobs.insert", "jobs.getQueryResults", "jobs.get", "jobs.get", "tables.get", "tables.get", "tabledata.list", "tabledata.list", "tabledata.list"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestConversion reads the same rows through both paths: the types each field
// accepts, NULLs, empty strings and bad values.
func TestConversion(t *testing.T) {
	ts := time.Date(2014, 1, 2, 3, 4, 5, 123456000, time.UTC)
	missing := func(col string) result { return result{Reason: problemlogs.ReasonMissing, Detail: col} }
	log := func(user string, n int, correct bool) result {
		return result{Log: features.ProblemLog{User: user, TimeDone: ts, Exercise: "ex", ProblemType: "pt", ProblemNumber: n, Correct: correct}}
	}
	tests := []struct {
		name   string
		cols   problemlogs.Columns
		schema []bqfake.Field
		rows   [][]any
		want   []result
	}{
		{
			name: "usual types, NULLs and empty strings, mapped names",
			cols: problemlogs.Columns{User: "student", Correct: "ok"},
			schema: []bqfake.Field{fld("student", bqfake.String), fld("time_done", bqfake.Timestamp), fld("exercise", bqfake.String),
				fld("problem_type", bqfake.String), fld("problem_number", bqfake.Int64), fld("ok", bqfake.Bool), fld("time_taken", bqfake.Int64)},
			rows: [][]any{
				{"alice", ts, "ex", "pt", 1, true, 30},
				{nil, ts, "ex", "pt", 1, true, 30},
				{"bob", nil, "ex", "pt", 1, true, nil},
				{"bob", ts, " ", "pt", 1, true, 30},
				{"bob", ts, "ex", "", 1, true, 30},
				{"bob", ts, "ex", "pt", nil, true, 30},
				{"bob", ts, "ex", "pt", 2, nil, 30},
				{"bob", ts, "ex", "pt", 3, false, nil},
			},
			want: []result{log("alice", 1, true), missing("student"), missing("time_done"), missing("exercise"),
				missing("problem_type"), missing("problem_number"), missing("ok"), log("bob", 3, false)},
		},
		{
			name: "INT64 user, DATETIME time, FLOAT64 number, STRING correct",
			schema: []bqfake.Field{fld("user", bqfake.Int64), fld("time_done", bqfake.DateTime), fld("exercise", bqfake.String),
				fld("problem_type", bqfake.String), fld("problem_number", bqfake.Float64), fld("correct", bqfake.String)},
			rows: [][]any{
				{12345678901, civil.DateTimeOf(ts), "ex", "pt", 4.0, "true"},
				{-7, ts, "ex", "pt", 5.0, "F"},
				{1, ts, "ex", "pt", 2.5, "true"},
				{1, ts, "ex", "pt", 6.0, "maybe"},
				{1, ts, "ex", "pt", 6.0, ""},
			},
			want: []result{log("12345678901", 4, true), log("-7", 5, false),
				{Reason: problemlogs.ReasonProblemNumber, Detail: "2.5"},
				{Reason: problemlogs.ReasonCorrect, Detail: `"maybe"`}, missing("correct")},
		},
		{
			name: "STRING time and number, INT64 correct",
			schema: []bqfake.Field{fld("user", bqfake.String), fld("time_done", bqfake.String), fld("exercise", bqfake.String),
				fld("problem_type", bqfake.String), fld("problem_number", bqfake.String), fld("correct", bqfake.Int64)},
			rows: [][]any{
				{"u", "2014-01-02 03:04:05.123456 UTC", "ex", "pt", "7", 1},
				{"u", "2014-01-02T03:04:05.123456Z", "ex", "pt", " 8 ", 0},
				{"u", "yesterday", "ex", "pt", "1", 0},
				{"u", "2014-01-02T03:04:05.123456Z", "ex", "pt", "x1", 0},
				{"u", "2014-01-02T03:04:05.123456Z", "ex", "pt", "1", 2},
			},
			want: []result{log("u", 7, true), log("u", 8, false),
				{Reason: problemlogs.ReasonTime, Detail: `"yesterday"`},
				{Reason: problemlogs.ReasonProblemNumber, Detail: `"x1"`},
				{Reason: problemlogs.ReasonCorrect, Detail: "2"}},
		},
		{
			// As the file parsers do (problemlogs.CheckNames).
			name: "names that could never be stored",
			schema: []bqfake.Field{fld("user", bqfake.String), fld("time_done", bqfake.Timestamp), fld("exercise", bqfake.String),
				fld("problem_type", bqfake.String), fld("problem_number", bqfake.Int64), fld("correct", bqfake.Bool)},
			rows: [][]any{
				{"u\x00", ts, "ex", "pt", 1, true},
				{"u", ts, "e\tx", "pt", 1, true},
				{"u", ts, strings.Repeat("e", 5<<20), "pt", 1, true},
				{"u", ts, strings.Repeat("e", features.MaxExerciseBytes), "pt", 1, true},
				{"u", ts, strings.Repeat("/", features.MaxExerciseBytes/3+1), "pt", 1, true},
				{"u", ts, "ex", strings.Repeat("p", features.MaxProblemTypeBytes+1), 1, true},
				{strings.Repeat("u", features.MaxUserBytes+1), ts, "ex", "pt", 1, true},
				{"u\u0085", ts, "ex", "pt", 1, true},
			},
			want: []result{
				{Reason: problemlogs.ReasonControl, Detail: `user: '\x00' at byte 1`},
				{Reason: problemlogs.ReasonControl, Detail: `exercise: '\t' at byte 1`},
				{Reason: problemlogs.ReasonTooLong, Detail: "exercise: 5242880 bytes, at most 500 escaped"},
				{Log: features.ProblemLog{User: "u", TimeDone: ts, Exercise: strings.Repeat("e", features.MaxExerciseBytes), ProblemType: "pt", ProblemNumber: 1, Correct: true}},
				{Reason: problemlogs.ReasonTooLong, Detail: "exercise: 501 bytes escaped, at most 500"},
				{Reason: problemlogs.ReasonTooLong, Detail: "problem_type: 501 bytes, at most 500 escaped"},
				{Reason: problemlogs.ReasonTooLong, Detail: "user: 1501 bytes, at most 1500"},
				{Reason: problemlogs.ReasonControl, Detail: `user: '\u0085' at byte 1`},
			},
		},
	}
	for _, tt := range tests {
		for _, path := range paths() {
			t.Run(tt.name+"/"+path.name, func(t *testing.T) {
				s := bqfake.New(t)
				s.SetBatchRows(2)
				s.SetQueryResult(tt.schema, tt.rows)
				c := s.Config()
				c.Query = "SELECT * FROM whatever"
				c.Columns = tt.cols
				c.RESTMaxRows = path.max
				_, got := read(t, c)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("rows:\n%v\nwant\n%v", got, tt.want)
				}
			})
		}
	}
}

func TestStorageStreams(t *testing.T) {
	s := bqfake.New(t)
	s.SetStreams(4)
	s.SetBatchRows(7)
	rows, want := logRows(101)
	schema := append(bqfake.Schema(), bqfake.Field{Name: "time_taken", Type: bqfake.Int64})
	for i := range rows {
		rows[i] = append(rows[i], i)
	}
	s.AddTable("src.ds.logs", schema, rows)
	c := s.Config()
	c.Table = "src.ds.logs"
	c.RESTMaxRows = 100
	c.MaxStreams = 5
	p, got := read(t, c)
	if p.Path != bqsource.PathStorage || p.Rows != 101 || len(p.Streams) != 4 || p.Session == "" || len(p.Schema) == 0 {
		t.Errorf("plan %+v, want a storage read of 101 rows in 4 streams", p)
	}
	// Every row once: the streams are read concurrently, and each row is unique.
	key := func(r result) string { return r.String() }
	gotKeys, wantKeys := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		gotKeys[i] = key(got[i])
	}
	for i := range want {
		wantKeys[i] = key(want[i])
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("got %d rows, want the %d rows of the table once each", len(got), len(want))
	}
	if !reflect.DeepEqual(got, want) { // streams are contiguous: stream order is table order
		t.Errorf("rows in stream order differ from the table's")
	}
	sr := s.SessionRequests()
	if len(sr) != 1 {
		t.Fatalf("sessions %+v", sr)
	}
	id, _ := bqsource.ParseTableID(p.Table)
	wantReq := bqfake.SessionRequest{
		Parent:         "projects/" + bqfake.Project,
		Table:          fmt.Sprintf("projects/%s/datasets/%s/tables/%s", id.Project, id.Dataset, id.Table),
		SelectedFields: []string{"user", "time_done", "exercise", "problem_type", "problem_number", "correct"},
		MaxStreamCount: 5,
		DataFormat:     "ARROW",
	}
	if !reflect.DeepEqual(sr[0], wantReq) {
		t.Errorf("CreateReadSession %+v, want %+v", sr[0], wantReq)
	}
	if n := len(s.ReadRowsRequests()); n != 4 {
		t.Errorf("%d ReadRows calls, want 4", n)
	}
}

func TestStorageResume(t *testing.T) {
	defer bqsource.SetResume(3, time.Millisecond)()
	s := bqfake.New(t)
	s.SetStreams(2)
	s.SetBatchRows(3)
	rows, want := logRows(20)
	s.AddTable("src.ds.logs", bqfake.Schema(), rows)
	s.FailStream(1, 5) // stream 1 breaks after 5 of its 10 rows (batches of 3 and 2)
	c := s.Config()
	c.Table = "src.ds.logs"
	c.RESTMaxRows = -1
	p, got := read(t, c)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n%v\nwant\n%v", got, want)
	}
	var calls []bqfake.ReadRowsRequest
	for _, r := range s.ReadRowsRequests() {
		if r.Stream == p.Streams[1] {
			calls = append(calls, r)
		}
	}
	if want := []bqfake.ReadRowsRequest{{Stream: p.Streams[1], Offset: 0}, {Stream: p.Streams[1], Offset: 5}}; !reflect.DeepEqual(calls, want) {
		t.Errorf("ReadRows on stream 1: %+v, want %+v", calls, want)
	}

	// A stream that keeps failing without progress fails the read.
	for range 4 {
		s.FailStream(0, 0)
	}
	ctx := context10s(t)
	p, err := bqsource.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var out []result
	err = bqsource.ReadStream(ctx, c, p.Schema, p.Streams[0], collect(t, &out))
	if status.Code(errors.Unwrap(err)) != codes.Unavailable || len(out) != 0 {
		t.Errorf("ReadStream after 4 failures = %v (%d rows), want Unavailable after 3 resumes", err, len(out))
	}
}

func TestPathChoice(t *testing.T) {
	rows, want := logRows(5)
	for _, tt := range []struct {
		max  int64
		path string
	}{{0, bqsource.PathREST}, {5, bqsource.PathREST}, {4, bqsource.PathStorage}, {-1, bqsource.PathStorage}} {
		s := bqfake.New(t)
		s.AddTable("src.ds.logs", bqfake.Schema(), rows)
		c := s.Config()
		c.Table = "src.ds.logs"
		c.RESTMaxRows = tt.max
		p, got := read(t, c)
		if p.Path != tt.path || !reflect.DeepEqual(got, want) {
			t.Errorf("RESTMaxRows %d: path %s (%d rows), want %s", tt.max, p.Path, len(got), tt.path)
		}
		calls := s.Calls()
		if slices.Contains(calls, "CreateReadSession") != (tt.path == bqsource.PathStorage) ||
			slices.Contains(calls, "tabledata.list") != (tt.path == bqsource.PathREST) {
			t.Errorf("RESTMaxRows %d: calls %q", tt.max, calls)
		}
	}
}

func TestWindow(t *testing.T) {
	rows, want := logRows(10)
	for _, path := range paths() {
		s := bqfake.New(t)
		s.AddTable("src.ds.logs", bqfake.Schema(), rows)
		c := s.Config()
		c.Table = "src:ds.logs"
		c.Start = want[2].Log.TimeDone
		c.End = want[7].Log.TimeDone
		c.RESTMaxRows = path.max
		_, got := read(t, c)
		if !reflect.DeepEqual(got, want[2:7]) {
			t.Errorf("%s: rows\n%v\nwant\n%v", path.name, got, want[2:7])
		}
		q := s.Queries()[0]
		if len(q.Params) != 2 || q.Params[0].Name != "start" || q.Params[0].Type != "TIMESTAMP" ||
			q.Params[0].Value != "2014-01-02 03:06:05.678901+00:00" || q.Params[1].Name != "end" {
			t.Errorf("params %+v", q.Params)
		}
	}
}

func TestEmpty(t *testing.T) {
	rows, _ := logRows(3)
	for _, path := range paths() {
		for _, window := range []bool{false, true} {
			s := bqfake.New(t)
			c := s.Config()
			c.Table = "src.ds.logs"
			if window { // a window that excludes every row
				s.AddTable("src.ds.logs", bqfake.Schema(), rows)
				c.Start = t0.Add(time.Hour)
			} else {
				s.AddTable("src.ds.logs", bqfake.Schema(), nil)
			}
			c.RESTMaxRows = path.max
			p, got := read(t, c)
			if p.Rows != 0 || len(got) != 0 || len(p.Streams) != 0 {
				t.Errorf("%s: plan %+v, %d rows; want nothing", path.name, p, len(got))
			}
		}
	}
}

func TestJobsInsertError(t *testing.T) {
	s := bqfake.New(t)
	s.FailJobsInsert(http.StatusBadRequest, bqfake.ErrorJSON(http.StatusBadRequest, "invalidQuery", "Syntax error: Unexpected keyword FROM at [1:8]"))
	c := s.Config()
	c.Query = "SELECT FROM"
	_, err := bqsource.Run(context10s(t), c)
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "Syntax error: Unexpected keyword FROM") || !strings.Contains(err.Error(), "invalidQuery") {
		t.Errorf("Run = %v, want the query's syntax error", err)
	}

	// A 5xx is retried by the client.
	rows, want := logRows(2)
	s.SetQueryResult(bqfake.Schema(), rows)
	s.FailJobsInsert(http.StatusServiceUnavailable, bqfake.ErrorJSON(http.StatusServiceUnavailable, "backendError", "try again"))
	c.Query = "SELECT * FROM somewhere"
	if _, got := read(t, c); !reflect.DeepEqual(got, want) {
		t.Errorf("after a 503: %v, want %v", got, want)
	}
	if n := len(s.Queries()); n != 3 {
		t.Errorf("%d jobs.insert requests, want 3", n)
	}
}

func TestJobFails(t *testing.T) {
	s := bqfake.New(t)
	s.FailJob("invalidQuery", "Unrecognized name: bogus at [1:8]")
	c := s.Config()
	c.Query = "SELECT bogus"
	_, err := bqsource.Run(context10s(t), c)
	if err == nil || !strings.Contains(err.Error(), "Unrecognized name: bogus") {
		t.Errorf("Run = %v, want the job's error", err)
	}
}

func TestMissingColumn(t *testing.T) {
	rows, _ := logRows(2)
	schema := bqfake.Schema()[:5] // no "correct"
	for i := range rows {
		rows[i] = rows[i][:5]
	}
	s := bqfake.New(t)
	s.SetQueryResult(schema, rows)
	c := s.Config()
	c.Query = "SELECT * FROM x"
	_, err := bqsource.Run(context10s(t), c)
	var mc *bqsource.MissingColumnError
	if !errors.As(err, &mc) || mc.Column != "correct" ||
		err.Error() != `bqsource: the result has no column "correct"; it has user, time_done, exercise, problem_type, problem_number` {
		t.Errorf("Run = %v, want a missing column error", err)
	}

	// A table query names the column: BigQuery's own error.
	s.AddTable("src.ds.logs", schema, rows)
	c = s.Config()
	c.Table = "src.ds.logs"
	if _, err := bqsource.Run(context10s(t), c); err == nil || !strings.Contains(err.Error(), "Unrecognized name: correct") {
		t.Errorf("Run = %v, want BigQuery's unrecognized name", err)
	}

	// A column of the wrong type.
	s.SetQueryResult([]bqfake.Field{fld("user", bqfake.String), fld("time_done", bqfake.Timestamp), fld("exercise", bqfake.String),
		fld("problem_type", bqfake.String), fld("problem_number", bqfake.Int64), fld("correct", bqfake.Timestamp)}, nil)
	c = s.Config()
	c.Query = "SELECT * FROM y"
	_, err = bqsource.Run(context10s(t), c)
	var ct *bqsource.ColumnTypeError
	if !errors.As(err, &ct) || ct.Column != "correct" {
		t.Errorf("Run = %v, want a column type error", err)
	}

	// The readers check too (here with a mapping that differs from Run's).
	rows, _ = logRows(3)
	s.AddTable("src.ds.full", bqfake.Schema(), rows)
	for _, path := range paths() {
		c = s.Config()
		c.Table = "src.ds.full"
		c.RESTMaxRows = path.max
		ctx := context10s(t)
		p, err := bqsource.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		c.Columns.Exercise = "skill"
		var out []result
		if p.Path == bqsource.PathREST {
			err = bqsource.ReadREST(ctx, c, p, collect(t, &out))
		} else {
			err = bqsource.ReadStream(ctx, c, p.Schema, p.Streams[0], collect(t, &out))
		}
		if !errors.As(err, &mc) || mc.Column != "skill" || mc.Field != "exercise" || len(out) != 0 {
			t.Errorf("%s: read = %v, want a missing column error", path.name, err)
		}
	}
}

func TestFnErrorStops(t *testing.T) {
	stop := errors.New("stop")
	rows, _ := logRows(10)
	for _, path := range paths() {
		s := bqfake.New(t)
		s.SetStreams(1)
		s.SetBatchRows(3)
		s.AddTable("src.ds.logs", bqfake.Schema(), rows)
		c := s.Config()
		c.Table = "src.ds.logs"
		c.RESTMaxRows = path.max
		ctx := context10s(t)
		p, err := bqsource.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		fn := func(features.ProblemLog, error) error {
			n++
			if n == 4 {
				return stop
			}
			return nil
		}
		if p.Path == bqsource.PathREST {
			err = bqsource.ReadREST(ctx, c, p, fn)
		} else {
			err = bqsource.ReadStream(ctx, c, p.Schema, p.Streams[0], fn)
		}
		if err != stop || n != 4 {
			t.Errorf("%s: read = %v after %d rows, want fn's error after 4", path.name, err, n)
		}
	}
}

func TestDestinationAndLocation(t *testing.T) {
	s := bqfake.New(t)
	rows, want := logRows(4)
	s.AddTable("src.ds.logs", bqfake.Schema(), rows)
	c := s.Config()
	c.Table = "src.ds.logs"
	c.Destination = "out:ds.result"
	c.Location = "EU"
	c.RESTMaxRows = -1
	p, got := read(t, c)
	if p.Table != "out.ds.result" || !reflect.DeepEqual(got, want) {
		t.Errorf("plan %+v, %d rows", p, len(got))
	}
	q := s.Queries()[0]
	if q.Destination != "out.ds.result" || q.Location != "EU" {
		t.Errorf("query %+v, want destination out.ds.result in EU", q)
	}
}

func TestStreamReaderReuse(t *testing.T) {
	s := bqfake.New(t)
	s.SetStreams(3)
	rows, want := logRows(9)
	s.AddTable("src.ds.logs", bqfake.Schema(), rows)
	c := s.Config()
	c.Table = "src.ds.logs"
	c.RESTMaxRows = -1
	ctx := context10s(t)
	p, err := bqsource.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bqsource.NewStreamReader(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []result
	for _, st := range p.Streams {
		if err := r.ReadStream(ctx, p.Schema, st, collect(t, &got)); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}
