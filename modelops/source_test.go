package modelops

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
)

// TestShowWithoutSummary shows a kmtrain directory without summary.json:
// its counts come from its thetas.
func TestShowWithoutSummary(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range []string{"addition", "subtraction"} {
		th := make([]float64, features.NumFeatures)
		enc.Encode(model.ExerciseThetas{Version: "v1", Exercise: e, Thetas: th, Rows: 100, Converged: true})
	}
	os.WriteFile(filepath.Join(dir, model.ThetasFile), b.Bytes(), 0o644)
	var out strings.Builder
	if err := Show(context.Background(), Dirs{Root: dir}, "v1", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 trained (2 converged)") || !strings.Contains(out.String(), "200 trained") {
		t.Errorf("show of 2 converged exercises of 100 rows each:\n%s", out.String())
	}
}

// TestDiffExerciseTwice diffs thetas with an exercise twice (two runs'
// files concatenated, a bad copy): an error, not the exercise counted twice.
func TestDiffExerciseTwice(t *testing.T) {
	write := func(exs ...string) string {
		dir := t.TempDir()
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, e := range exs {
			enc.Encode(model.ExerciseThetas{Version: filepath.Base(dir), Exercise: e, Thetas: make([]float64, features.NumFeatures)})
		}
		os.WriteFile(filepath.Join(dir, model.ThetasFile), b.Bytes(), 0o644)
		return dir
	}
	a, bdir := write("addition", "addition"), write("addition")
	var out strings.Builder
	err := Diff(context.Background(), Dirs{Root: "."}, a, bdir, &out)
	if err == nil {
		t.Errorf("diff of a version with addition twice: no error\n%s", out.String())
	}
}
