package bqsource_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

var (
	jan = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	feb = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
)

const allCols = "SELECT `user`, `time_done`, `exercise`, `problem_type`, `problem_number`, `correct` FROM "

func TestSQL(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name   string
		c      bqsource.Config
		sql    string
		params []bigquery.QueryParameter
	}{
		{"both bounds", bqsource.Config{Table: "p.d.t", Start: jan, End: feb},
			allCols + "`p.d.t` WHERE `time_done` >= @start AND `time_done` < @end",
			[]bigquery.QueryParameter{{Name: "start", Value: jan}, {Name: "end", Value: feb}}},
		{"start only, in UTC", bqsource.Config{Table: "p.d.t", Start: jan.In(est)},
			allCols + "`p.d.t` WHERE `time_done` >= @start",
			[]bigquery.QueryParameter{{Name: "start", Value: jan}}},
		{"end only", bqsource.Config{Table: "p.d.t", End: feb},
			allCols + "`p.d.t` WHERE `time_done` < @end",
			[]bigquery.QueryParameter{{Name: "end", Value: feb}}},
		{"no bounds", bqsource.Config{Table: "p.d.t"}, allCols + "`p.d.t`", nil},
		{"legacy table id", bqsource.Config{Table: "my-proj:ds.t"}, allCols + "`my-proj.ds.t`", nil},
		{"domain-scoped project", bqsource.Config{Table: "example.com:proj.ds.t"}, allCols + "`example.com:proj.ds.t`", nil},
		{"backquoted table id", bqsource.Config{Table: "`p.d.t`"}, allCols + "`p.d.t`", nil},
		{"column mapping", bqsource.Config{Table: "p.d.t", End: feb, Columns: problemlogs.Columns{User: "student_id", TimeDone: "ts"}},
			"SELECT `student_id`, `ts`, `exercise`, `problem_type`, `problem_number`, `correct` FROM `p.d.t` WHERE `ts` < @end",
			[]bigquery.QueryParameter{{Name: "end", Value: feb}}},
		{"a column mapped twice is selected once", bqsource.Config{Table: "p.d.t", Columns: problemlogs.Columns{ProblemType: "exercise"}},
			"SELECT `user`, `time_done`, `exercise`, `problem_number`, `correct` FROM `p.d.t`", nil},
		{"backquotes and backslashes escaped", bqsource.Config{Table: "p.d.t", Columns: problemlogs.Columns{User: "we`ird\\name"}},
			"SELECT `we\\`ird\\\\name`, `time_done`, `exercise`, `problem_type`, `problem_number`, `correct` FROM `p.d.t`", nil},
		{"query as is", bqsource.Config{Project: "p", Query: "SELECT * FROM x WHERE y = 1"}, "SELECT * FROM x WHERE y = 1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql, params := tt.c.SQL()
			if sql != tt.sql {
				t.Errorf("SQL:\n got %s\nwant %s", sql, tt.sql)
			}
			if len(params) != len(tt.params) {
				t.Fatalf("params %v, want %v", params, tt.params)
			}
			for i, p := range params {
				w := tt.params[i]
				pt, ok := p.Value.(time.Time)
				if p.Name != w.Name || !ok || !pt.Equal(w.Value.(time.Time)) || pt.Location() != time.UTC {
					t.Errorf("param %d = %s %#v, want %s %v in UTC", i, p.Name, p.Value, w.Name, w.Value)
				}
			}
		})
	}
}

func TestParseTableID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bqsource.TableID
	}{
		{"p.d.t", bqsource.TableID{"p", "d", "t"}},
		{"my-proj:ds_1.t-2", bqsource.TableID{"my-proj", "ds_1", "t-2"}},
		{"example.com:proj.ds.t", bqsource.TableID{"example.com:proj", "ds", "t"}},
		{"example.com:proj:ds.t", bqsource.TableID{"example.com:proj", "ds", "t"}},
		{" `p.d.t` ", bqsource.TableID{"p", "d", "t"}},
	} {
		got, err := bqsource.ParseTableID(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseTableID(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "t", "d.t", ".d.t", "p..t", "p.d.", "p:d"} {
		if got, err := bqsource.ParseTableID(in); err == nil {
			t.Errorf("ParseTableID(%q) = %+v, want an error", in, got)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    bqsource.Config
		err  string // "" for valid
	}{
		{"table", bqsource.Config{Table: "p.d.t", Start: jan, End: feb}, ""},
		{"table with billing project", bqsource.Config{Project: "b", Table: "p.d.t"}, ""},
		{"query", bqsource.Config{Project: "b", Query: "SELECT 1"}, ""},
		{"nothing", bqsource.Config{}, "give a table or a query"},
		{"both", bqsource.Config{Project: "b", Table: "p.d.t", Query: "SELECT 1"}, "not both"},
		{"bad table", bqsource.Config{Table: "d.t"}, "want project.dataset.table"},
		{"query without project", bqsource.Config{Query: "SELECT 1"}, "billing project"},
		{"query with a window", bqsource.Config{Project: "b", Query: "SELECT 1", Start: jan}, "filter in the query"},
		{"empty window", bqsource.Config{Table: "p.d.t", Start: feb, End: jan}, "empty time window"},
		{"equal bounds", bqsource.Config{Table: "p.d.t", Start: jan, End: jan}, "empty time window"},
		{"bad destination", bqsource.Config{Table: "p.d.t", Destination: "x"}, "destination"},
		{"negative streams", bqsource.Config{Table: "p.d.t", MaxStreams: -1}, "MaxStreams"},
		{"insecure without endpoints", bqsource.Config{Table: "p.d.t", Insecure: true}, "insecure"},
	} {
		err := tt.c.Validate()
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want one that says %q", tt.name, err, tt.err)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		c    bqsource.Config
		want string
	}{
		{bqsource.Config{Table: "p.d.t", Start: jan, End: feb}, "bigquery:p.d.t time_done in [2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)"},
		{bqsource.Config{Table: "p:d.t", End: feb, Columns: problemlogs.Columns{TimeDone: "ts"}}, "bigquery:p.d.t ts in [-inf, 2024-02-01T00:00:00Z)"},
		{bqsource.Config{Table: "p.d.t"}, "bigquery:p.d.t"},
		{bqsource.Config{Query: "SELECT *\n  FROM x"}, "bigquery query: SELECT * FROM x"},
	} {
		if got := tt.c.Describe(); got != tt.want {
			t.Errorf("Describe() = %q, want %q", got, tt.want)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	c := bqsource.Config{Project: "b", Table: "p.d.t", Start: jan, End: feb, Location: "EU", Destination: "p.d.out",
		Columns: problemlogs.Columns{User: "student"}, MaxStreams: 7, RESTMaxRows: -1,
		Endpoint: "http://127.0.0.1:1/", StorageEndpoint: "127.0.0.1:2", Insecure: true}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back bqsource.Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %+v, want %+v", back, c)
	}
	p := bqsource.Plan{Table: "p.d.t", Rows: 3, Path: bqsource.PathStorage, Session: "s", Streams: []string{"a", "b"}, Schema: []byte{1, 2, 255}}
	b, _ = json.Marshal(p)
	var pb bqsource.Plan
	if err := json.Unmarshal(b, &pb); err != nil || !reflect.DeepEqual(pb, p) {
		t.Errorf("plan round trip: %+v, %v; want %+v", pb, err, p)
	}
}
