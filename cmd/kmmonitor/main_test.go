package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
)

func TestMain(m *testing.M) {
	os.Exit(ptest.MainRetWithDefault(m, "prism"))
}

func TestFlagMistakes(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags map[string]string
		want  string
	}{
		{"input and table", map[string]string{"input": "x.csv", "bq_table": "p.d.t"}, "not both"},
		{"window without table", map[string]string{"start": "2014-01-01"}, "--start and --end"},
		{"bad start", map[string]string{"bq_table": "p.d.t", "start": "last tuesday"}, "--start="},
		{"empty window", map[string]string{"bq_table": "p.d.t", "start": "2014-02-01", "end": "2014-01-01"}, "empty time window"},
		{"model and datastore", map[string]string{"model": "dir", "datastore_project": "p"}, "--model or --datastore_project"},
		{"namespace without datastore", map[string]string{"datastore_namespace": "km"}, "need --datastore_project"},
		{"version without datastore", map[string]string{"model_version": "v1"}, "need --datastore_project"},
		{"bad columns", map[string]string{"columns": "nonsense"}, ""},
		{"bad output table", map[string]string{"bq_output": "nodots"}, "project.dataset.table"},
		{"no output", map[string]string{"output": ""}, "no output"},
		{"no input files", map[string]string{"input": filepath.Join(t.TempDir(), "*.csv")}, "matches no files"},
		{"no model", map[string]string{"model": t.TempDir()}, "no thetas.jsonl there"},
		{"local model on Dataflow", map[string]string{"runner": "dataflow", "output": "gs://b/m"}, `--model="./out" is a local path`},
		{"local output on Dataflow", map[string]string{"runner": "dataflow", "model": "gs://b/out"}, `--output="./monitor" is a local path`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := run(context.Background(), testutil.SetFlags(t, c.flags))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// TestSample monitors the embedded sample with the thetas it was made from
// (planted; no components table: every component is derived, as the
// sample's were) and checks the files and the summary.
func TestSample(t *testing.T) {
	modelDir := t.TempDir()
	planted, err := os.ReadFile("../../sample/planted_thetas.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(modelDir, model.ThetasFile), planted, 0o644)
	os.WriteFile(filepath.Join(modelDir, model.ComponentsFile), nil, 0o644)
	out := filepath.Join(t.TempDir(), "monitor")
	if err := run(context.Background(), testutil.SetFlags(t, map[string]string{"model": modelDir, "output": out})); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, monitor.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s monitor.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.ModelVersion != "planted" || s.LogsRead != 60146 || s.AttemptsScored != s.LogsRead || s.AttemptsNoThetas != 0 ||
		s.Exercises != 30 || s.Days == 0 || s.Rows < s.Days {
		t.Errorf("summary %+v; want version planted, 60146 logs all scored, 30 exercises", s)
	}
	csv, err := os.ReadFile(filepath.Join(out, monitor.CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(csv), "\n"); lines != s.Rows+1 {
		t.Errorf("monitor.csv has %d lines, want %d rows and a header", lines, s.Rows)
	}
	page, err := os.ReadFile(filepath.Join(out, monitor.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), `data-chart="exercise-day"`); n != 30 {
		t.Errorf("dashboard has %d exercise-day charts, want 30", n)
	}
}
