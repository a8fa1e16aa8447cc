package pipeline_test

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/synth"
	"github.com/kmtrain/knowledgemodel/train"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// TestRecovery runs the whole pipeline on logs generated from planted thetas
// and checks that the thetas it writes recover them to within their
// statistical error: every |θ̂_j − θ_j| ≤ 4.5·se_j, with se_j the asymptotic
// standard error from the Fisher information at the fit
// (train.StandardErrors), and a mean |p̂ − p| over the rows below 0.02.
//
// Why this tolerance is right, and why this population (8 exercises with 24
// problem types each, so that the 384 components span R^100 and every theta
// is identifiable; a tiny l2 so that the penalty's bias is negligible; every
// problem number a row) is argued in synth's TestRecovery, which checks the
// same chain without Beam, together with the tolerance's power. Here the
// point is that the pipeline — files, batching, grouping, the row order of a
// GroupByKey, the coders — changes nothing of it.
func TestRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("recovery generates and trains on 500,000 logs")
	}
	c := synth.DefaultConfig()
	c.Students, c.Exercises, c.ProblemTypes, c.ExercisesPerStudent = 9000, 8, 24, 6
	c.Popularity, c.CurriculumSpread, c.Seed = 0, 3, 2014
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
	if _, err := g.WriteCSV(w, synth.CSVOptions{ExtraColumns: true}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	f.Close()

	o := pipeline.DefaultOptions()
	o.Holdout = transforms.Holdout{} // the planted rows, all of them
	o.Input, o.Output, o.Version = input, filepath.Join(dir, "out"), "recovery"
	o.Window = features.AllProblems
	o.MinRows, o.MaxRows = 1, 0
	o.L2 = 1e-6
	o.ShardBytes = 4 << 20 // read in several byte ranges, as a large file would be
	runPipeline(t, "prism", o)

	fitted := map[string]model.ExerciseThetas{}
	tf, err := os.Open(filepath.Join(o.Output, model.ThetasFile))
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	dec := json.NewDecoder(tf)
	for dec.More() {
		var th model.ExerciseThetas
		if err := dec.Decode(&th); err != nil {
			t.Fatal(err)
		}
		fitted[th.Exercise] = th
	}

	// The rows, replayed without Beam, give the standard errors.
	check := []string{synth.ExerciseName(3), synth.ExerciseName(5), synth.ExerciseName(7)}
	data := map[string]*train.Dataset{}
	for _, e := range check {
		data[e] = train.NewDataset(features.NumFeatures, 80000)
	}
	comps, _ := features.NewComponents(nil)
	var logs []features.ProblemLog
	replay := func() {
		features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems}, func(r *features.Row) {
			if d := data[r.Exercise]; d != nil {
				d.Add(r.X[:], r.Correct)
			}
		})
		logs = logs[:0]
	}
	if _, err := g.Generate(func(l features.ProblemLog) error {
		if len(logs) > 0 && logs[0].User != l.User {
			replay()
		}
		logs = append(logs, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	replay()

	planted := map[string][]float64{}
	for _, th := range g.Thetas() {
		planted[th.Exercise] = th.Thetas
	}
	for _, e := range check {
		th, ok := fitted[e]
		if !ok {
			t.Fatalf("exercise %s was not trained", e)
		}
		d := data[e]
		if th.Rows != d.Len() || !th.Converged {
			t.Errorf("%s: %d rows (want %d), converged %v", e, th.Rows, d.Len(), th.Converged)
		}
		se, err := train.StandardErrors(d, th.Thetas)
		if err != nil {
			t.Fatal(err)
		}
		var maxZ float64
		for j := range se {
			z := math.Abs(th.Thetas[j]-planted[e][j]) / se[j]
			if z > maxZ {
				maxZ = z
			}
			if z > 4.5 {
				t.Errorf("%s: theta %s = %.4f, planted %.4f, %.1f standard errors away", e, features.FeatureNames[j], th.Thetas[j], planted[e][j], z)
			}
		}
		var dp float64
		for i := 0; i < d.Len(); i++ {
			dp += math.Abs(train.Predict(th.Thetas, d.Row(i)) - train.Predict(planted[e], d.Row(i)))
		}
		dp /= float64(d.Len())
		if dp > 0.02 {
			t.Errorf("%s: mean |p̂−p| = %.4f, want ≤ 0.02", e, dp)
		}
		t.Logf("%s: %d rows, max |θ̂−θ|/se = %.2f, mean |p̂−p| = %.4f", e, d.Len(), maxZ, dp)
	}
}
