package transforms

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
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
				testutil.Iter[features.Component](), testutil.Iter[features.Component](), testutil.Iter(tt.stats), testutil.Iter[EvalPartial]())
			entries, _ := os.ReadDir(dir)
			if tt.ok {
				if err != nil || len(entries) != 3 {
					t.Errorf("complete input: %v, %d files", err, len(entries))
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
				testutil.Iter[features.Component](), testutil.Iter[features.Component](), testutil.Iter(Stats{Counts: counts}), testutil.Iter[EvalPartial]())
			entries, _ := os.ReadDir(dir)
			if tt.want == "" {
				if err != nil || len(entries) != 3 {
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
