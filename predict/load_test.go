package predict_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
)

// TestLoadDirIncomplete loads a thetas.jsonl cut at a line boundary (a
// partial copy): fewer exercises than the summary says were trained is an
// error, as store.Records' ErrIncomplete is.
func TestLoadDirIncomplete(t *testing.T) {
	thetas, comps, _ := fixture(t)
	dir := t.TempDir()
	writeDir(t, dir, thetas, comps, &model.Summary{Version: "v1", ExercisesTrained: 2})
	b, _ := os.ReadFile(filepath.Join(dir, model.ThetasFile))
	first, _, _ := strings.Cut(string(b), "\n")
	os.WriteFile(filepath.Join(dir, model.ThetasFile), []byte(first+"\n"), 0o644)
	m, err := predict.LoadDir(dir)
	if err == nil {
		t.Errorf("LoadDir of 1 exercise's thetas, summary says 2 trained: loaded %d exercises, want an error", len(m.Thetas))
	}
}
