package pipeline_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/sample"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// TestEmbeddedDefault runs what `go run ./cmd/kmtrain` runs: the default
// preset on the sample embedded in the binary. The model it prints must be
// at least as good on the held-out students as both its baselines.
func TestEmbeddedDefault(t *testing.T) {
	o, err := pipeline.Preset(pipeline.PresetDefault)
	if err != nil {
		t.Fatal(err)
	}
	o.Input, o.Output, o.Version = sample.ProblemLogs, t.TempDir(), "default"
	runPipeline(t, "prism", o)
	s := readSummary(t, o.Output)
	if s.ExercisesTrained < 20 || s.ExercisesTrained != s.ExercisesConverged || s.BadRows != 0 || s.LogsRead == 0 {
		t.Errorf("embedded default: %d logs, %d bad, %d exercises trained, %d converged; want at least 20, all converged",
			s.LogsRead, s.BadRows, s.ExercisesTrained, s.ExercisesConverged)
	}
	ev := s.Evaluation
	if ev == nil || ev.Overall.AUC == nil || ev.Overall.LogLikelihood == nil {
		t.Fatalf("embedded default: no held-out evaluation: %+v", ev)
	}
	for name, b := range ev.Baselines {
		if *ev.Overall.AUC < *b.Overall.AUC || *ev.Overall.LogLikelihood < *b.Overall.LogLikelihood {
			t.Errorf("embedded default: model AUC %.4f, log-likelihood %.4f; baseline %s %.4f, %.4f: want the model at least as good",
				*ev.Overall.AUC, *ev.Overall.LogLikelihood, name, *b.Overall.AUC, *b.Overall.LogLikelihood)
		}
	}
	if len(ev.Segments) != 3 || ev.Segments[0].Segment != "first" {
		t.Errorf("embedded default: segments %+v, want first, 2-5 and 6+", ev.Segments)
	}
	t.Run("rank", func(t *testing.T) { checkRanking(t, o.Output, o.Holdout.Fraction) })
}

// checkRanking checks predict's ranking on the held-out students of a
// trained version: at each first attempt at an exercise, the exercises the
// student has not started are ranked, and the ones ranked in the top half
// must be answered right more often, at their first attempt, than those in
// the bottom half.
func checkRanking(t *testing.T, dir string, fraction float64) {
	m, err := predict.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := sampleLogs(t)
	byUser := map[string][]features.ProblemLog{}
	for _, l := range logs {
		if transforms.HeldOut(l.User, fraction) {
			byUser[l.User] = append(byUser[l.User], l)
		}
	}
	var right, tries [2]int // top half, bottom half
	for _, ls := range byUser {
		features.SortLogs(ls)
		st := m.NewStudent()
		for _, l := range ls {
			if st.Attempts(l.Exercise) == 0 {
				if _, ok := m.Thetas[l.Exercise]; ok {
					var fresh []predict.Ranked
					for _, r := range st.Rank(l) {
						if r.Attempts == 0 {
							fresh = append(fresh, r)
						}
					}
					i := slices.IndexFunc(fresh, func(r predict.Ranked) bool { return r.Exercise == l.Exercise })
					half := 0
					if 2*i >= len(fresh) {
						half = 1
					}
					tries[half]++
					if l.Correct {
						right[half]++
					}
				}
			}
			st.Apply(l)
		}
	}
	if len(byUser) == 0 || tries[0] == 0 || tries[1] == 0 {
		t.Fatalf("%d held-out students, first attempts ranked in each half %v", len(byUser), tries)
	}
	top, bottom := float64(right[0])/float64(tries[0]), float64(right[1])/float64(tries[1])
	t.Logf("first attempts of %d held-out students: ranked in the top half %d, right %.3f; bottom half %d, right %.3f",
		len(byUser), tries[0], top, tries[1], bottom)
	if top <= bottom {
		t.Errorf("first attempts ranked in the top half are right %.3f of the time, the bottom half %.3f: want more", top, bottom)
	}
	r := m.Rank(nil, features.ProblemLog{})
	if len(r) != len(m.Thetas) || !slices.IsSortedFunc(r, func(a, b predict.Ranked) int { return cmp.Compare(b.P, a.P) }) {
		t.Errorf("a newcomer's ranking has %d exercises of %d, sorted: %v", len(r), len(m.Thetas), r)
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
