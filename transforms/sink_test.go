package transforms

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
)

// TestWriteModelRefusesIncompleteInput checks that the sink writes nothing
// unless every shard of the input was read.
func TestWriteModelRefusesIncompleteInput(t *testing.T) {
	th := model.ExerciseThetas{Exercise: "ex", Thetas: make([]float64, features.NumFeatures)}
	for _, tt := range []struct {
		name  string
		stats Stats
		ok    bool
	}{
		{"complete", Stats{Counts: map[string]int64{CountShards: 2, CountShardsRead: 2, CountLogs: 1}}, true},
		{"a shard failed", Stats{Counts: map[string]int64{CountShards: 2, CountShardsRead: 1}}, false},
		{"no shards", Stats{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fn := &writeModelFn{Out: ModelOutput{Dir: dir, Version: "v"}}
			err := fn.ProcessElement(context.Background(), nil, testutil.Iter(th), testutil.Iter[model.SkippedExercise](),
				testutil.Iter[features.Component](), testutil.Iter[features.Component](), testutil.Iter(tt.stats), testutil.Iter[EvalPartial](), testutil.Iter[Stats]())
			entries, _ := os.ReadDir(dir)
			if tt.ok {
				if err != nil || len(entries) != 4 {
					t.Errorf("complete input: %v, %d files", err, len(entries))
				}
				// Without an evaluation the report says so, rather than an
				// earlier version's staying beside the new files.
				if b, _ := os.ReadFile(filepath.Join(dir, ReportFile)); !strings.Contains(string(b), "Version v was trained without a held-out evaluation") {
					t.Errorf("report.html of a run without an evaluation:\n%.500s", b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "incomplete input") || len(entries) != 0 {
				t.Errorf("incomplete input: error %v, %d files written", err, len(entries))
			}
		})
	}
}

// TestWriteModelRefusesEmptyModel checks that a run that read no logs, or
// trained no exercise, does not replace the previous model with nothing.
func TestWriteModelRefusesEmptyModel(t *testing.T) {
	complete := map[string]int64{CountShards: 1, CountShardsRead: 1}
	th := model.ExerciseThetas{Exercise: "ex", Thetas: make([]float64, features.NumFeatures)}
	for _, tt := range []struct {
		name   string
		logs   int64
		thetas []model.ExerciseThetas
		want   string
	}{
		{"no logs", 0, nil, "no ProblemLogs"},
		{"no exercise trained", 5, nil, "no exercise was trained"},
		{"trained", 5, []model.ExerciseThetas{th}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			counts := map[string]int64{CountLogs: tt.logs}
			for k, v := range complete {
				counts[k] = v
			}
			fn := &writeModelFn{Out: ModelOutput{Dir: dir, Version: "v"}}
			err := fn.ProcessElement(context.Background(), nil, testutil.Iter(tt.thetas...), testutil.Iter[model.SkippedExercise](),
				testutil.Iter[features.Component](), testutil.Iter[features.Component](), testutil.Iter(Stats{Counts: counts}), testutil.Iter[EvalPartial](), testutil.Iter[Stats]())
			entries, _ := os.ReadDir(dir)
			if tt.want == "" {
				if err != nil || len(entries) != 4 {
					t.Errorf("%v, %d files", err, len(entries))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || len(entries) != 0 {
				t.Errorf("error %v (want %q), %d files written", err, tt.want, len(entries))
			}
		})
	}
}

// TestWriteModel runs WriteModel on a few elements of each input, stats in
// two parts as stages emit them, and reads the version back from its files.
func TestWriteModel(t *testing.T) {
	dir := t.TempDir()
	thetas := make([]float64, features.NumFeatures)
	thetas[0] = 0.5
	reused := features.DeriveComponent(features.ComponentKey{Exercise: "b", ProblemType: "p", Correct: true})
	fresh := features.DeriveComponent(features.ComponentKey{Exercise: "a", ProblemType: "p"})

	p, s := beam.NewPipelineWithRoot()
	WriteModel(s, ModelOutput{Dir: dir, Version: "v7"}, Trained{
		Thetas: beam.Create(s,
			model.ExerciseThetas{Version: "v7", Exercise: "b", Thetas: thetas, Rows: 3, Converged: true},
			model.ExerciseThetas{Version: "v7", Exercise: "a", Thetas: thetas, Rows: 2}),
		Skipped:       beam.Create(s, model.SkippedExercise{Exercise: "c", Rows: 1, Reason: model.SkipTooFewRows}),
		Components:    beam.Create(s, reused),
		NewComponents: beam.Create(s, fresh, reused),
		Stats: beam.Create(s,
			Stats{Counts: map[string]int64{CountShards: 2, CountShardsRead: 1, CountLogs: 4}},
			Stats{Counts: map[string]int64{CountShardsRead: 1, CountLogs: 3}, Examples: map[string][]string{ExampleEmptyFile: {"x.csv"}}}),
		Evaluation: beam.CreateList(s, []EvalPartial{}),
	})
	ptest.RunAndValidate(t, p)

	r, err := predict.LoadRecords(func(path string) (io.ReadCloser, error) { return os.Open(path) }, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "v7" || len(r.Thetas) != 2 || r.Thetas[0].Exercise != "a" || r.Thetas[1].Exercise != "b" {
		t.Errorf("read back version %q with thetas %v, want v7 with a and b in order", r.Version, r.Thetas)
	}
	if len(r.Components) != 2 {
		t.Errorf("read back %d components, want 2 (one reused, one new)", len(r.Components))
	}
	b, err := os.ReadFile(filepath.Join(dir, model.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var sum model.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.LogsRead != 7 || sum.ExercisesTrained != 2 || sum.ExercisesSkipped != 1 || sum.RowsTrained != 5 ||
		sum.ComponentsReused != 1 || sum.ComponentsNew != 1 || len(sum.EmptyFiles) != 1 {
		t.Errorf("summary logs=%d trained=%d skipped=%d rows=%d reused=%d new=%d empty files=%v",
			sum.LogsRead, sum.ExercisesTrained, sum.ExercisesSkipped, sum.RowsTrained,
			sum.ComponentsReused, sum.ComponentsNew, sum.EmptyFiles)
	}
}
