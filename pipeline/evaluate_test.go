package pipeline_test

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// TestHeldOutEvaluation holds out students, then attempts after a time, and
// checks that every held-out attempt is evaluated once, with the
// prediction the webapp would make from the written version.
func TestHeldOutEvaluation(t *testing.T) {
	logs := conformanceLogs(t)
	after := time.Date(2014, 1, 20, 0, 0, 0, 0, time.UTC)
	heldOut := func(l features.ProblemLog) bool { return transforms.HeldOut(l.User, 0.3) }
	for _, tt := range []struct {
		name     string
		holdout  transforms.Holdout
		scored   func(l features.ProblemLog) bool // the attempts evaluated
		features features.FeatureSet
	}{
		{"students", transforms.Holdout{Fraction: 0.3}, heldOut, features.Khan2014},
		{"after", transforms.Holdout{After: after}, func(l features.ProblemLog) bool { return !l.TimeDone.Before(after) }, features.Khan2014},
		{"extended", transforms.Holdout{Fraction: 0.3}, heldOut, features.Extended},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := productionOptions("eval-" + tt.name)
			o.Input = conformance + "problemlogs.csv"
			o.Components = conformance + "components.jsonl"
			o.Output = t.TempDir()
			o.Holdout = tt.holdout
			o.EvalPredictions = filepath.Join(o.Output, "predictions.csv")
			o.Features = tt.features
			runPipeline(t, "prism", o)

			byUser := map[string][]features.ProblemLog{}
			want := 0
			for _, l := range logs {
				byUser[l.User] = append(byUser[l.User], l)
				if tt.scored(l) {
					want++
				}
			}
			sum := readSummary(t, o.Output)
			ev := sum.Evaluation
			if ev == nil || ev.Overall.Attempts+ev.NoThetas.Attempts != int64(want) || want == 0 {
				t.Fatalf("evaluation %+v: want %d attempts in all", ev, want)
			}
			if _, ok := ev.Baselines[transforms.BaselineNoKnowledge]; !ok {
				t.Error("no 6-feature baseline in the evaluation")
			}
			if _, err := os.Stat(filepath.Join(o.Output, transforms.ReportFile)); err != nil {
				t.Error(err)
			}

			f, err := os.Open(o.EvalPredictions)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			recs, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs)-1 != want {
				t.Fatalf("%d predictions, want %d", len(recs)-1, want)
			}
			m, err := predict.LoadDir(o.Output)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Thetas) == 0 {
				t.Fatal("no exercise trained")
			}
			for ex, th := range m.Thetas {
				_, difficulty := m.Difficulty[ex]
				if len(th) != tt.features.Dim() || difficulty != (tt.features == features.Extended) {
					t.Fatalf("%s: %d thetas, difficulty table %v; want %d", ex, len(th), difficulty, tt.features.Dim())
				}
			}
			if got := sum.Settings.Features; got != tt.features.String() {
				t.Errorf("settings say features %q, want %q", got, tt.features)
			}
			// Every 25th prediction, as the webapp would make it from the
			// student's attempts before it.
			for i := 1; i < len(recs); i += 25 {
				r := recs[i]
				user, exercise, problemType := r[0], r[1], r[2]
				at, err := time.Parse(time.RFC3339Nano, r[4])
				if err != nil {
					t.Fatal(err)
				}
				var history []features.ProblemLog
				for _, l := range byUser[user] {
					if l.TimeDone.Before(at) {
						history = append(history, l)
					}
				}
				p, ok := m.PredictAttempt(history, features.ProblemLog{Exercise: exercise, ProblemType: problemType, TimeDone: at})
				if !ok {
					if r[6] != "" {
						t.Errorf("%s on %s: p %s, but the version has no thetas", user, exercise, r[6])
					}
					continue
				}
				got, err := strconv.ParseFloat(r[6], 64)
				if err != nil || math.Abs(got-p) > 1e-12 {
					t.Errorf("%s on %s at %s: p %s, want %v", user, exercise, r[4], r[6], p)
				}
			}
		})
	}
}

// TestEmptyEvaluation: an --eval_input with no logs (a bad row) is
// reported as an evaluation of nothing, not left out of the summary, and
// what was read of it is counted.
func TestEmptyEvaluation(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.csv")
	if err := os.WriteFile(empty, []byte("user,time_done,exercise,problem_type,problem_number,correct\nu,soon,ex,pt,1,true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := productionOptions("eval-empty")
	o.Input = conformance + "problemlogs.csv"
	o.EvalInput = empty
	o.Output = t.TempDir()
	runPipeline(t, "prism", o)
	sum := readSummary(t, o.Output)
	if sum.Evaluation == nil || sum.Evaluation.Overall.Attempts != 0 || sum.ExercisesTrained == 0 {
		t.Errorf("evaluation %+v with %d exercises trained: want an evaluation of 0 attempts", sum.Evaluation, sum.ExercisesTrained)
	}
	if c := sum.EvalInputCounts; c == nil || c.FilesRead != 1 || c.LogsRead != 0 || c.BadRows != 1 || sum.BadRows != 0 {
		t.Errorf("eval input counts %+v (training's bad rows %d): want 1 file, 0 logs, 1 bad row", c, sum.BadRows)
	}
}
