package pipeline_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/store"
	"github.com/kmtrain/knowledgemodel/synth"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// TestManyExercisesToDatastore trains a model of more than 5,000
// exercises, with a held-out evaluation, and writes it to files and to the
// Datastore emulator through the whole path (components, thetas, the
// version and its summary, the gate, the promotion), whose every commit is
// checked against Cloud Datastore's limits: the summary alone is ~7 KB per
// exercise, far over an entity's 1 MiB. What the webapp and kmpredict load
// from Datastore must be what the files hold.
func TestManyExercisesToDatastore(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 5,000 exercises")
	}
	const exercises = 5200
	project := dsemulator.Shared(t).Use(t)
	c := synth.DefaultConfig()
	c.Students, c.Exercises, c.ExercisesPerStudent, c.Popularity, c.ProblemTypes = 6000, exercises, 6, 0, 2
	g, err := synth.New(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	input := filepath.Join(dir, "logs.csv")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if _, err := g.WriteCSV(w, synth.CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	o := pipeline.DefaultOptions()
	o.Input, o.Output, o.Version = input, filepath.Join(dir, "out"), "v-many"
	o.Window, o.MinRows = features.AllProblems, 1
	// The write is what is tested: the gate's check against the 6-feature
	// baseline, which the tiny exercises' model fails, is let through.
	o.MaxRegression = 1
	o.Datastore = &transforms.Datastore{Project: project, Namespace: "many", Promote: true}
	o.Components = pipeline.ComponentsFromDatastore
	runPipeline(t, "prism", o)

	sum := readSummary(t, o.Output)
	if sum.ExercisesTrained < 5000 || sum.Evaluation == nil {
		t.Fatalf("%d exercises trained (want at least 5,000), evaluation %v", sum.ExercisesTrained, sum.Evaluation != nil)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, project, "many")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	info, err := st.Version(ctx, o.Version)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != store.StatusCurrent || !reflect.DeepEqual(info.Summary, sum) {
		t.Errorf("version %s: status %s, summary as in %s: %v", o.Version, info.Status, model.SummaryFile, reflect.DeepEqual(info.Summary, sum))
	}
	fromFiles, err := predict.LoadDir(o.Output)
	if err != nil {
		t.Fatal(err)
	}
	m, err := transforms.LoadModel(ctx, transforms.ModelSource{Datastore: &transforms.Datastore{Project: project, Namespace: "many"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != o.Version || !reflect.DeepEqual(m.Thetas, fromFiles.Thetas) || m.Components.Len() != fromFiles.Components.Len() {
		t.Errorf("LoadCurrent: version %s, %d exercises, %d components; the files: %d, %d",
			m.Version, len(m.Thetas), m.Components.Len(), len(fromFiles.Thetas), fromFiles.Components.Len())
	}
	j, _ := os.ReadFile(filepath.Join(o.Output, model.SummaryFile))
	t.Logf("%d exercises trained, %d logs; summary.json %d bytes", sum.ExercisesTrained, sum.LogsRead, len(j))
}
