package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/bqsource/bqfake"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(asKmtrain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(dsemulator.MainRet(func() int { return ptest.MainRetWithDefault(m, "prism") }))
}

// TestBigQueryTableToDatastore runs kmtrain as a user would in production,
// with --bq_table, a --start/--end window and --datastore_project, against
// the fake BigQuery and the Datastore emulator.
func TestBigQueryTableToDatastore(t *testing.T) {
	project := dsemulator.Shared(t).Use(t)
	f, err := os.Open("../../testdata/khan2014/problemlogs.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]any
	start, end := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2014, 1, 20, 0, 0, 0, 0, time.UTC)
	inWindow := 0
	err = problemlogs.Read(f, f.Name(), problemlogs.DefaultColumns, func(_ int, l features.ProblemLog, err error) error {
		if err != nil {
			return err
		}
		if !l.TimeDone.Before(start) && l.TimeDone.Before(end) {
			inWindow++
		}
		// The table names its columns its own way: --columns maps them.
		rows = append(rows, []any{l.User, l.TimeDone, l.Exercise, l.ProblemType, int64(l.ProblemNumber), l.Correct})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bq := bqfake.New(t)
	schema := bqfake.Schema()
	schema[0].Name = "student"
	bq.AddTable("khan-prod.logs.problemlogs", schema, rows)
	cfg := bq.Config()

	explicit := testutil.SetFlags(t, map[string]string{
		"bq_table":            "khan-prod.logs.problemlogs",
		"start":               "2014-01-01",
		"end":                 "2014-01-20T00:00:00Z",
		"bq_project":          "billing-project",
		"columns":             "user=student",
		"bq_endpoint":         cfg.Endpoint,
		"bq_storage_endpoint": cfg.StorageEndpoint,
		"bq_rest_max_rows":    "-1",
		"datastore_project":   project,
		"problem_numbers":     "all",
		"min_rows":            "1",
		"version":             "v1",
	})
	ctx := context.Background()
	if err := run(ctx, explicit); err != nil {
		t.Fatal(err)
	}

	q := bq.Queries()
	if len(q) != 1 || q[0].Project != "billing-project" || !strings.Contains(q[0].SQL, "`student`") ||
		!strings.Contains(q[0].SQL, "@start") || !strings.Contains(q[0].SQL, "@end") || len(q[0].Params) != 2 {
		t.Errorf("queries %+v: want one in billing-project selecting `student` within @start and @end", q)
	}
	st, err := store.Open(ctx, project, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info, err := st.Version(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != store.StatusCurrent || info.Summary.LogsRead != int64(inWindow) || info.Summary.ExercisesTrained == 0 {
		t.Errorf("version v1: status %s, %d logs read (want current, %d), %d exercises trained",
			info.Status, info.Summary.LogsRead, inWindow, info.Summary.ExercisesTrained)
	}
	if _, err := os.Stat("out"); err == nil {
		t.Error("with --datastore_project and no --output, kmtrain wrote ./out")
	}
}

func TestFlagMistakes(t *testing.T) {
	tests := []struct {
		flags map[string]string
		want  string
	}{
		{map[string]string{"bq_table": "p.d.t", "input": "x.csv"}, "not both"},
		{map[string]string{"start": "2014-01-01"}, "--bq_table"},
		{map[string]string{"bq_table": "p.d.t", "start": "last week"}, "--start"},
		{map[string]string{"bq_query": "SELECT 1", "bq_table": "p.d.t"}, ""},
		{map[string]string{"promote": "false"}, "--datastore_project"},
		{map[string]string{"components": "datastore"}, "Datastore"},
		{map[string]string{"eval_input": "/nonexistent/*.csv"}, "--eval_input"},
		{map[string]string{"l2": "lots"}, "--l2"},
		{map[string]string{"preset": "khan2014", "l2_knowledge": "best"}, "--l2=auto"},
		{map[string]string{"l2": "0.01", "l2_knowledge": "best"}, "--l2=auto"},
		{map[string]string{"preset": "extended"}, "--preset"},
		{map[string]string{"l2_extended": "always"}, "--l2_extended"},
		{map[string]string{"preset": "khan2014", "l2_extended": "best"}, "--l2=auto"},
		{map[string]string{"preset": "khan2014", "l2": "auto", "l2_extended": "best"}, "--features=extended"},
		{map[string]string{"holdout_after": "soon"}, "--holdout_after"},
		{map[string]string{"component_key": "exercise"}, "component key"},
		{map[string]string{"max_regression": "NaN"}, "max_regression NaN must be a finite number"},
		{map[string]string{"l2": "+Inf"}, "l2 +Inf must be a finite non-negative number"},
		{map[string]string{"gradient_tolerance": "Inf"}, "gradient_tolerance must be finite"},
		{map[string]string{"version": "a/b"}, `version id "a/b" contains a /`},
		{map[string]string{"version": " "}, "starts or ends with a space"},
		{map[string]string{"runner": "dataflow"}, `--output="./out" is a local path`},
		{map[string]string{"runner": "dataflow", "output": "gs://b/o", "input": "../../testdata/khan2014/*.csv.gz"}, "--input="},
		{map[string]string{"runner": "dataflow", "datastore_project": "p", "export_rows": "rows.csv"}, "--export_rows="},
	}
	for _, tt := range tests {
		t.Run(strings.Join(keys(tt.flags), ","), func(t *testing.T) {
			err := run(context.Background(), testutil.SetFlags(t, tt.flags))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

// TestPresets checks what each preset sets and that the model flags change
// it only where given.
func TestPresets(t *testing.T) {
	type settings struct {
		preset, features, keying, window string
		auto, tailBest, extendedBest     bool
		l2                               float64
	}
	tests := []struct {
		flags map[string]string
		want  settings
	}{
		{nil, settings{"default", "extended", "exercise,correct", "all", true, true, false, 0.001}},
		{map[string]string{"preset": "best"}, settings{"best", "extended", "exercise,correct", "all", true, true, true, 0.001}},
		{map[string]string{"preset": "khan2014"}, settings{"khan2014", "khan2014", "exercise,problem_type,correct", "1-5", false, false, false, 0.001}},
		{map[string]string{"preset": "khan2014", "l2": "auto"}, settings{"khan2014", "khan2014", "exercise,problem_type,correct", "1-5", true, false, false, 0.001}},
		{map[string]string{"preset": "khan2014", "l2": "auto", "l2_knowledge": "best", "component_key": "exercise,correct"},
			settings{"khan2014", "khan2014", "exercise,correct", "1-5", true, true, false, 0.001}},
		{map[string]string{"l2": "0.01", "features": "khan2014"}, settings{"default", "khan2014", "exercise,correct", "all", false, false, false, 0.01}},
		{map[string]string{"preset": "best", "l2_extended": "one_se"}, settings{"best", "extended", "exercise,correct", "all", true, true, false, 0.001}},
		{map[string]string{"l2_extended": "best"}, settings{"default", "extended", "exercise,correct", "all", true, true, true, 0.001}},
		{map[string]string{"l2_knowledge": "one_se", "problem_numbers": "1-5"}, settings{"default", "extended", "exercise,correct", "1-5", true, false, false, 0.001}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(keys(tt.flags), ","), func(t *testing.T) {
			o, err := options(testutil.SetFlags(t, tt.flags))
			if err != nil {
				t.Fatal(err)
			}
			got := settings{o.Preset, o.Features.String(), o.Keying.String(), o.Window.String(), o.AutoL2 != nil,
				o.AutoL2 != nil && o.AutoL2.TailBest, o.ExtendedBest, o.L2}
			if got != tt.want {
				t.Errorf("options: %+v, want %+v", got, tt.want)
			}
		})
	}
}
