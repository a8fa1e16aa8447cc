package pipeline_test

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	_ "github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// TestMain runs the tests on prism by default, with a Datastore emulator
// for the tests that need one.
func TestMain(m *testing.M) {
	os.Exit(dsemulator.MainRet(func() int { return ptest.MainRetWithDefault(m, "prism") }))
}

const conformance = "../testdata/khan2014/"

// runPipeline builds and runs the training pipeline on a runner.
func runPipeline(t *testing.T, runner string, o pipeline.Options) beam.PipelineResult {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, o); err != nil {
		t.Fatal(err)
	}
	res, err := beam.Run(context.Background(), runner, p)
	if err != nil {
		t.Fatalf("%s runner: %v", runner, err)
	}
	return res
}

func readSummary(t *testing.T, dir string) model.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, model.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s model.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func readCSV(t *testing.T, path string) (header []string, rows map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows = map[string][]string{}
	for _, rec := range recs[1:] {
		rows[rec[0]+"|"+rec[1]+"|"+rec[3]] = rec
	}
	return recs[0], rows
}

// TestConformance runs the whole pipeline on the conformance case made with
// Khan Academy's own code and checks every exported value, on both local
// runners.
func TestConformance(t *testing.T) {
	for _, runner := range []string{"prism", "direct"} {
		t.Run(runner, func(t *testing.T) {
			dir := t.TempDir()
			o := pipeline.DefaultOptions()
			o.Holdout = transforms.Holdout{} // every row, as Khan's code made them
			o.Input = conformance + "problemlogs.csv"
			o.Components = conformance + "components.jsonl"
			o.Window = features.AllProblems
			o.Output = dir
			o.ExportRows = filepath.Join(dir, "rows.csv")
			o.MinRows = 1
			o.Version = "conformance"
			res := runPipeline(t, runner, o)

			wantHeader, want := readCSV(t, conformance+"expected_rows.csv.gz")
			header, got := readCSV(t, o.ExportRows)
			if strings.Join(header, ",") != strings.Join(wantHeader, ",") {
				t.Fatalf("header %v, want %v", header, wantHeader)
			}
			if len(got) != len(want) {
				t.Errorf("%d rows, want %d", len(got), len(want))
			}
			for k, w := range want {
				g, ok := got[k]
				if !ok {
					t.Fatalf("missing row %s", k)
				}
				for i := range w {
					if i < 6 {
						if g[i] != w[i] {
							t.Fatalf("row %s column %s: %q, want %q", k, header[i], g[i], w[i])
						}
						continue
					}
					a, _ := strconv.ParseFloat(g[i], 64)
					b, _ := strconv.ParseFloat(w[i], 64)
					if math.Abs(a-b) > 1e-9 {
						t.Fatalf("row %s column %s: %v, want %v", k, header[i], a, b)
					}
				}
			}

			s := readSummary(t, dir)
			if s.StudentsDropped != 1 || len(s.DroppedExamples) != 1 || !strings.Contains(s.DroppedExamples[0], "student_gap") {
				t.Errorf("dropped %d %v, want student_gap reported", s.StudentsDropped, s.DroppedExamples)
			}
			if s.LogsRead != 3803 || s.RowsEmitted != int64(len(want)) || s.BadRows != 0 {
				t.Errorf("summary %+v", s)
			}
			if s.ComponentsReused != 60 || s.ComponentsNew != 0 {
				t.Errorf("components reused %d new %d, want 60 and 0", s.ComponentsReused, s.ComponentsNew)
			}
			if s.ExercisesTrained == 0 || s.ExercisesTrained != s.ExercisesConverged {
				t.Errorf("trained %d, converged %d", s.ExercisesTrained, s.ExercisesConverged)
			}
			// The Beam counters tell the same story as the summary.
			if runner == "prism" {
				counters := map[string]int64{}
				for _, c := range res.Metrics().AllMetrics().Counters() {
					counters[c.Key.Name] += c.Committed
				}
				if counters[transforms.CountLogs] != 3803 || counters[transforms.CountStudentsDropped] != 1 {
					t.Errorf("counters %v", counters)
				}
			}
		})
	}
}
