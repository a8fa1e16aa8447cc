package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/synth"
)

// TestMain initialises Beam, for TestFeatures' pipeline runs.
func TestMain(m *testing.M) { os.Exit(ptest.MainRetWithDefault(m, "prism")) }

// writeFeatureLogs writes the synthetic students from-to as a ProblemLog
// CSV, with bad lines at rate badFraction, then the extra logs. It returns
// the number of logs and of bad lines written.
func writeFeatureLogs(t *testing.T, path string, g *synth.Generator, from, to int, badFraction float64, extra ...features.ProblemLog) (logs, bad int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := synth.NewCSVWriter(f, synth.CSVOptions{BadFraction: badFraction, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.GenerateStudents(from, to, w.Write); err != nil {
		t.Fatal(err)
	}
	for _, l := range extra {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return w.Stats().Logs, w.Stats().BadLines()
}

// featureFiles writes a small training file (with bad rows and a student
// whose problem numbers skip) and a test file of other students (one of
// them on an exercise nobody trained on). It returns their paths and the
// number of test attempts.
func featureFiles(t *testing.T) (trainPath, testPath string, badRows, testAttempts int64) {
	t.Helper()
	c := synth.DefaultConfig()
	c.Students, c.Exercises, c.ExercisesPerStudent = 160, 4, 3
	g, err := synth.New(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	trainPath, testPath = filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	at := time.Date(2014, 2, 1, 0, 0, 0, 0, time.UTC)
	ex := g.Exercises()[0]
	gap := []features.ProblemLog{
		{User: "gappy", TimeDone: at, Exercise: ex, ProblemType: "pt0", ProblemNumber: 1, Correct: true},
		{User: "gappy", TimeDone: at.Add(time.Minute), Exercise: ex, ProblemType: "pt0", ProblemNumber: 3, Correct: true},
	}
	_, badRows = writeFeatureLogs(t, trainPath, g, 0, 120, 0.01, gap...)
	unseen := features.ProblemLog{User: "newcomer", TimeDone: at, Exercise: "never_trained", ProblemType: "pt0", ProblemNumber: 1}
	testAttempts, _ = writeFeatureLogs(t, testPath, g, 120, 160, 0, unseen)
	if badRows == 0 {
		t.Fatal("no bad rows in the training file")
	}
	return trainPath, testPath, badRows, testAttempts
}

var (
	featuresLine = regexp.MustCompile(`^features config=(\S+) auc=(0\.\d{4}) log_likelihood=(-0\.\d{4}) attempts=(\d+)$`)
	featureTotal = regexp.MustCompile(`^total configs=(\d+) exercises=(\d+) train_rows=(\d+) test_attempts=(\d+) seconds=\d+\.\d$`)
)

// TestFeatures runs the ablation on a small synthetic population and checks
// its output, and that its khan2014 and extended evaluations are the
// pipeline's, bit for bit.
func TestFeatures(t *testing.T) {
	trainPath, testPath, badRows, testAttempts := featureFiles(t)
	configs := []string{"extended", "khan2014", "extended-minus-log_attempts", "khan2014-plus-problem_type_difficulty"}
	var outputs []string
	for _, workers := range []string{"1", "2"} {
		var stdout, stderr bytes.Buffer
		args := []string{"features", "--train", trainPath, "--test", testPath, "--configs", strings.Join(configs, ","), "--workers", workers}
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		if len(lines) != len(configs)+1 {
			t.Fatalf("output:\n%s", stdout.String())
		}
		for i, c := range configs {
			m := featuresLine.FindStringSubmatch(lines[i])
			if m == nil || m[1] != c {
				t.Fatalf("line %q: want a features line of config %s", lines[i], c)
			}
			if n, _ := strconv.ParseInt(m[4], 10, 64); n != testAttempts-1 { // the newcomer's attempt has no thetas
				t.Errorf("%s: %s attempts scored, want %d", c, m[4], testAttempts-1)
			}
		}
		m := featureTotal.FindStringSubmatch(lines[len(configs)])
		if m == nil || m[1] != strconv.Itoa(len(configs)) || m[2] != "4" || m[4] != strconv.FormatInt(testAttempts, 10) {
			t.Errorf("total line %q", lines[len(configs)])
		}
		for _, want := range []string{" " + strconv.FormatInt(badRows, 10) + " bad rows", "1 dropped for gaps", "no_thetas=1 "} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
		}
		outputs = append(outputs, strings.Join(lines[:len(configs)], "\n"))
	}
	if outputs[0] != outputs[1] {
		t.Errorf("1 worker:\n%s\n2 workers:\n%s", outputs[0], outputs[1])
	}

	// The pipeline, as kmtrain --problem_numbers=all --l2=auto
	// --l2_knowledge=best --component_key=exercise,correct runs it.
	b, err := loadFeatureBench(trainPath, testPath, features.KeyByExercise, 100, 200000, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set          features.FeatureSet
		extendedBest bool // --l2_extended=best
	}{{features.Extended, false}, {features.Extended, true}, {features.Khan2014, false}} {
		set := c.set
		keep, _ := parseFeatureConfig(set.String())
		r, err := b.run(keep, c.extendedBest, 2, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		o := pipeline.DefaultOptions()
		o.Input, o.EvalInput, o.Output, o.Version = trainPath, testPath, t.TempDir(), "features-test"
		o.Window, o.Keying, o.Features = features.AllProblems, features.KeyByExercise, set
		o.AutoL2, o.ExtendedBest = pipelineAutoL2(), c.extendedBest
		p, s := beam.NewPipelineWithRoot()
		if err := pipeline.Build(s, o); err != nil {
			t.Fatal(err)
		}
		if _, err := beam.Run(context.Background(), "prism", p); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(o.Output, model.SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		var sum model.Summary
		if err := json.Unmarshal(raw, &sum); err != nil {
			t.Fatal(err)
		}
		got, want := r.report.Overall, sum.Evaluation.Overall
		if got.Attempts != want.Attempts || *got.AUC != *want.AUC || *got.LogLikelihood != *want.LogLikelihood ||
			r.report.NoThetas.Attempts != sum.Evaluation.NoThetas.Attempts {
			t.Errorf("%s, l2_extended best %v: kmbench features: %d attempts, AUC %v, log-likelihood %v, %d without thetas; pipeline: %d, %v, %v, %d",
				set, c.extendedBest, got.Attempts, *got.AUC, *got.LogLikelihood, r.report.NoThetas.Attempts,
				want.Attempts, *want.AUC, *want.LogLikelihood, sum.Evaluation.NoThetas.Attempts)
		}
	}
}

func TestFeatureConfigs(t *testing.T) {
	names := featureConfigNames()
	if len(names) != 2+2*features.NumExtras || names[0] != "khan2014" || names[1] != "extended" {
		t.Fatalf("configs %v", names)
	}
	for _, name := range names {
		keep, err := parseFeatureConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		cols := featureColumns(keep)
		n := 0
		for _, k := range keep {
			if k {
				n++
			}
		}
		if len(cols) != features.NumFeatures+n || !slices.IsSorted(cols) || cols[len(cols)-1] != features.Extended.Dim()-1 {
			t.Errorf("%s: columns %v", name, cols)
		}
	}
	if _, err := parseFeatureConfig("extended-minus-bogus"); err == nil {
		t.Error("extended-minus-bogus parsed")
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"features", "--train", "a.csv", "--test", "b.csv", "--configs", "khan2014,bogus"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `unknown configuration "bogus"`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"features", "--train", "a.csv"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--test are required") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
