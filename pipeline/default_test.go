package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/sample"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// TestEmbeddedDefault runs what `go run ./cmd/kmtrain` runs: the default
// options on the sample embedded in the binary.
func TestEmbeddedDefault(t *testing.T) {
	o := pipeline.DefaultOptions()
	o.Input, o.Output, o.Version = sample.ProblemLogs, t.TempDir(), "default"
	runPipeline(t, "prism", o)
	s := readSummary(t, o.Output)
	if s.ExercisesTrained < 20 || s.ExercisesTrained != s.ExercisesConverged || s.BadRows != 0 || s.LogsRead == 0 {
		t.Errorf("embedded default: %d logs, %d bad, %d exercises trained, %d converged; want at least 20, all converged",
			s.LogsRead, s.BadRows, s.ExercisesTrained, s.ExercisesConverged)
	}
}

// TestFailedRunKeepsModel checks that a run that fails leaves the model a
// previous run wrote exactly as it was.
func TestFailedRunKeepsModel(t *testing.T) {
	dir := t.TempDir()
	o := pipeline.DefaultOptions()
	o.Input, o.Output, o.Version = conformance+"problemlogs.csv", dir, "good"
	o.MinRows = 1
	runPipeline(t, "prism", o)
	before := map[string][]byte{}
	for _, f := range []string{model.ThetasFile, model.ComponentsFile, model.SummaryFile, transforms.ReportFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = b
	}

	// The second input has a file without the correct column: the run fails
	// after the first file was read and students were replayed.
	in := t.TempDir()
	logs, _ := os.ReadFile(conformance + "problemlogs.csv")
	os.WriteFile(filepath.Join(in, "a.csv"), logs, 0o644)
	os.WriteFile(filepath.Join(in, "b.csv"), []byte("user,time_done,exercise,problem_type,problem_number\nu,2014-01-01T00:00:00Z,e,p,1\n"), 0o644)
	o.Input, o.Version = filepath.Join(in, "*.csv"), "bad"
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, o); err != nil {
		t.Fatal(err)
	}
	if _, err := beam.Run(context.Background(), "prism", p); err == nil {
		t.Fatal("a run over a file without the correct column succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(before) {
		t.Errorf("the failed run left %d files in the output, want %d", len(entries), len(before))
	}
	for f, b := range before {
		after, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Equal(after, b) {
			t.Errorf("%s changed after a failed run (%v)", f, err)
		}
	}
}

// TestSameThetasOnEveryRunner checks that the thetas do not depend on the
// runner, which groups and orders rows its own way: the same input gives
// the same thetas, bit for bit, on prism and on direct.
func TestSameThetasOnEveryRunner(t *testing.T) {
	thetas := map[string][]model.ExerciseThetas{}
	for _, runner := range []string{"prism", "direct"} {
		o := pipeline.DefaultOptions()
		o.Input, o.Output, o.Version = sample.ProblemLogs, t.TempDir(), "same"
		o.MaxRows = 700 // the cap samples some exercises: the sample must not depend on the runner either
		runPipeline(t, runner, o)
		f, err := os.Open(filepath.Join(o.Output, model.ThetasFile))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(f)
		for dec.More() {
			var th model.ExerciseThetas
			if err := dec.Decode(&th); err != nil {
				t.Fatal(err)
			}
			thetas[runner] = append(thetas[runner], th)
		}
		f.Close()
	}
	a, b := thetas["prism"], thetas["direct"]
	if len(a) != len(b) || len(a) < 20 {
		t.Fatalf("prism trained %d exercises, direct %d", len(a), len(b))
	}
	capped := 0
	for i := range a {
		if a[i].Exercise != b[i].Exercise || a[i].Loss != b[i].Loss || !slices.Equal(a[i].Thetas, b[i].Thetas) || a[i].Rows != b[i].Rows {
			t.Errorf("%s: prism and direct differ (loss %v vs %v)", a[i].Exercise, a[i].Loss, b[i].Loss)
		}
		if a[i].Rows < a[i].RowsSeen {
			capped++
		}
	}
	if capped == 0 {
		t.Error("no exercise hit the row cap")
	}
}
