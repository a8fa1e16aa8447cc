package main

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/train"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// runFeatures implements "kmbench features": an ablation of the extended
// feature set. It trains on the students of --train and evaluates on the
// students of --test, as
//
//	kmtrain --input=TRAIN --eval_input=TEST --problem_numbers=all --l2=auto
//	    --l2_knowledge=best --l2_extended=RULE --component_key=KEY [--features=extended]
//
// does, once per configuration of features:
//
//   - khan2014: Khan Academy's 107 features;
//   - extended: the extras too (features.ExtraNames);
//   - extended-minus-NAME: the extended set without extra NAME;
//   - khan2014-plus-NAME: the 107 features and extra NAME alone.
//
// The training rows are those of the pipeline: every student replayed with
// features.Replay (problem numbers all, students whose problem numbers skip
// dropped), batched per exercise and expanded by the trainer's own code
// (trainer.Collector: the pipeline's row order, cap and out-of-fold
// difficulty). Each exercise with at least --min_rows rows is fitted by
// trainer.FitExercise with --l2=auto --l2_knowledge=best
// (trainer.DefaultAutoL2 with TailBest); a configuration fits the
// columns it keeps, the KnowledgeState last. Every attempt of the test
// students is predicted before it is applied, with the problem types'
// difficulty of features.DifficultyCounts.Table, and scored with an
// evaluate.Accumulator; attempts on exercises without thetas are counted
// apart. The extended and khan2014 lines are the pipeline's evaluations.
//
// Output, on stdout:
//
//	features config=NAME auc=%.4f log_likelihood=%.4f attempts=N
//	total configs=N exercises=N train_rows=N test_attempts=N seconds=S
//
// attempts is the number of test attempts scored. Counts of the input (bad
// rows, dropped students) and each configuration's details go to stderr.
func runFeatures(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmbench features", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaults := pipeline.DefaultOptions()
	trainPath := fs.String("train", "", "ProblemLog `file` (CSV or JSONL, plain or .gz) of the students to train on")
	testPath := fs.String("test", "", "ProblemLog `file` of the students to evaluate on")
	componentKey := fs.String("component_key", features.KeyingExerciseName,
		"what a random component is keyed by: "+features.KeyingExerciseName+" or "+features.KeyingProblemTypeName)
	configs := fs.String("configs", "", "comma-separated configurations to run (default: all of "+strings.Join(featureConfigNames(), ",")+")")
	workers := fs.Int("workers", 2, "exercises fitted concurrently")
	minRows := fs.Int("min_rows", defaults.MinRows, "skip exercises with fewer training rows")
	maxRows := fs.Int("max_rows", defaults.MaxRows, "train each exercise on at most this many rows, as kmtrain samples them (0: no cap)")
	l2Extended := fs.String("l2_extended", "one_se", "when an exercise with any extra feature keeps its 6-feature model, as kmtrain's flag: one_se (the default preset) or best (the preset best)")
	markdown := fs.Bool("markdown", false, "then print the README's table of what each extra feature adds (needs every configuration)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *trainPath == "" || *testPath == "" {
		return errors.New("--train and --test are required")
	}
	if *workers < 1 {
		return errors.New("--workers must be at least 1")
	}
	if *minRows < 0 || *maxRows < 0 {
		return errors.New("--min_rows and --max_rows must not be negative")
	}
	if *l2Extended != "one_se" && *l2Extended != "best" {
		return fmt.Errorf("--l2_extended=%q: want one_se or best", *l2Extended)
	}
	keying, err := features.ParseComponentKeying(*componentKey)
	if err != nil {
		return err
	}
	run := featureConfigNames()
	if *configs != "" {
		run = nil
		for _, name := range strings.Split(*configs, ",") {
			name = strings.TrimSpace(name)
			if _, err := parseFeatureConfig(name); err != nil {
				return err
			}
			run = append(run, name)
		}
	}

	start := time.Now()
	b, err := loadFeatureBench(*trainPath, *testPath, keying, *minRows, *maxRows, stderr)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	results := map[string]evaluate.Metrics{}
	for _, name := range run {
		keep, _ := parseFeatureConfig(name)
		r, err := b.run(keep, *l2Extended == "best", *workers, stderr)
		if err != nil {
			return fmt.Errorf("config %s: %w", name, err)
		}
		fmt.Fprintf(stderr, "config=%s exercises=%d fit_failures=%d with_knowledge=%d no_thetas=%d seconds=%.1f\n",
			name, r.trained, r.failed, r.knowledge, r.report.NoThetas.Attempts, r.seconds)
		m := r.report.Overall
		results[name] = m
		fmt.Fprintf(out, "features config=%s auc=%.4f log_likelihood=%.4f attempts=%d\n",
			name, orNaN(m.AUC), orNaN(m.LogLikelihood), m.Attempts)
		out.Flush()
	}
	fmt.Fprintf(out, "total configs=%d exercises=%d train_rows=%d test_attempts=%d seconds=%.1f\n",
		len(run), len(b.exercises), b.trainRows, len(b.attempts), time.Since(start).Seconds())
	if *markdown {
		return featureTable(out, results)
	}
	return nil
}

// featureTable prints what each extra feature adds, as the README shows
// it: the whole extended set without it, and Khan's 107 with it alone.
func featureTable(w io.Writer, results map[string]evaluate.Metrics) error {
	cell := func(name string) (string, error) {
		m, ok := results[name]
		if !ok {
			return "", fmt.Errorf("--markdown needs configuration %s", name)
		}
		return fmt.Sprintf("%.4f / %.4f", orNaN(m.AUC), orNaN(m.LogLikelihood)), nil
	}
	whole, err := cell(features.ExtendedName)
	if err != nil {
		return err
	}
	khan, err := cell(features.Khan2014Name)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "| feature | whole set without it | 107 with it alone |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fmt.Fprintf(w, "| (none: the whole set / the 107) | %s | %s |\n", whole, khan)
	for _, x := range features.ExtraNames {
		minus, err := cell(configMinus + x)
		if err != nil {
			return err
		}
		plus, err := cell(configPlus + x)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", x, minus, plus)
	}
	return nil
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Feature configurations.
const (
	configMinus = features.ExtendedName + "-minus-"
	configPlus  = features.Khan2014Name + "-plus-"
)

// featureConfigNames returns every configuration, in the order they run.
func featureConfigNames() []string {
	names := []string{features.Khan2014Name, features.ExtendedName}
	for _, e := range features.ExtraNames {
		names = append(names, configMinus+e)
	}
	for _, e := range features.ExtraNames {
		names = append(names, configPlus+e)
	}
	return names
}

// parseFeatureConfig returns which of the extras (features.ExtraNames) a
// configuration keeps.
func parseFeatureConfig(name string) ([features.NumExtras]bool, error) {
	var keep [features.NumExtras]bool
	switch {
	case name == features.Khan2014Name:
		return keep, nil
	case name == features.ExtendedName:
		for i := range keep {
			keep[i] = true
		}
		return keep, nil
	case strings.HasPrefix(name, configMinus):
		if i := slices.Index(features.ExtraNames, name[len(configMinus):]); i >= 0 {
			for j := range keep {
				keep[j] = j != i
			}
			return keep, nil
		}
	case strings.HasPrefix(name, configPlus):
		if i := slices.Index(features.ExtraNames, name[len(configPlus):]); i >= 0 {
			keep[i] = true
			return keep, nil
		}
	}
	return keep, fmt.Errorf("unknown configuration %q: want one of %s", name, strings.Join(featureConfigNames(), ","))
}

// featureColumns returns the columns of the extended rows a configuration
// keeps: the bias and the ExerciseState, the extras kept, the
// KnowledgeState.
func featureColumns(keep [features.NumExtras]bool) []int {
	var cols []int
	head := 1 + features.NumExerciseFeatures
	for j := range head {
		cols = append(cols, j)
	}
	for i, k := range keep {
		if k {
			cols = append(cols, head+i)
		}
	}
	for j := range features.KnowledgeDim {
		cols = append(cols, head+features.NumExtras+j)
	}
	return cols
}

// benchExercise is one exercise trained on: its extended rows, as the
// pipeline's trainer builds them.
type benchExercise struct {
	name string
	rows *train.Dataset
	seen int
}

// testAttempt is one attempt of a test student, predicted before it is
// applied: x holds its extended features (nil when the exercise has no
// rows to train on).
type testAttempt struct {
	exercise int // index into featureBench.exercises, -1 for none
	name     string
	correct  bool
	x        []float64
}

// featureBench is the data of every configuration.
type featureBench struct {
	exercises []benchExercise
	attempts  []testAttempt
	trainRows int
}

// readProblemLogs reads a file of ProblemLogs per user, counting bad rows.
func readProblemLogs(path string, stderr io.Writer) (map[string][]features.ProblemLog, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	users := map[string][]features.ProblemLog{}
	bad := 0
	err = problemlogs.Read(r, path, problemlogs.DefaultColumns, func(line int, l features.ProblemLog, err error) error {
		if err != nil {
			if bad++; bad <= 3 {
				fmt.Fprintf(stderr, "%s:%d: bad row skipped: %v\n", path, line, err)
			}
			return nil
		}
		users[l.User] = append(users[l.User], l)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return users, bad, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// loadFeatureBench replays the training students into the exercises'
// rows, and the test students into their attempts' features.
func loadFeatureBench(trainPath, testPath string, keying features.ComponentKeying, minRows, maxRows int, stderr io.Writer) (*featureBench, error) {
	comps, err := features.NewComponents(nil)
	if err != nil {
		return nil, err
	}
	comps.Keying = keying

	users, bad, err := readProblemLogs(trainPath, stderr)
	if err != nil {
		return nil, err
	}
	batches := map[string]*trainer.RowBatch{}
	logs, dropped := 0, 0
	b := &featureBench{}
	for _, u := range sortedKeys(users) {
		logs += len(users[u])
		err := features.Replay(users[u], comps, features.ReplayOptions{Window: features.AllProblems, Compact: true, Features: features.Extended},
			func(r *features.Row) {
				batch := batches[r.Exercise]
				if batch == nil {
					batch = &trainer.RowBatch{Extended: true}
					batches[r.Exercise] = batch
				}
				batch.Add(r)
				b.trainRows++
			})
		var gap *features.GapError
		switch {
		case errors.As(err, &gap):
			dropped++
		case err != nil:
			return nil, err
		}
	}
	fmt.Fprintf(stderr, "train %s: %d logs, %d bad rows, %d students, %d dropped for gaps in problem numbers, %d rows, %d exercises\n",
		trainPath, logs, bad, len(users), dropped, b.trainRows, len(batches))
	users = nil

	index := map[string]int{}
	difficulty := map[string]func(string) float64{}
	for _, name := range sortedKeys(batches) {
		rows := trainer.NewCollector(maxRows)
		rows.Add(batches[name])
		delete(batches, name)
		seen := rows.Seen()
		if seen < minRows || seen == 0 {
			continue
		}
		d, counts, err := rows.Dataset(comps)
		if err != nil {
			return nil, fmt.Errorf("exercise %s: %w", name, err)
		}
		byType, unseen := counts.Table()
		difficulty[name] = func(problemType string) float64 {
			if v, ok := byType[problemType]; ok {
				return v
			}
			return unseen
		}
		index[name] = len(b.exercises)
		b.exercises = append(b.exercises, benchExercise{name: name, rows: d, seen: seen})
	}
	fmt.Fprintf(stderr, "train: %d exercises with at least %d rows\n", len(b.exercises), minRows)

	users, bad, err = readProblemLogs(testPath, stderr)
	if err != nil {
		return nil, err
	}
	dim := features.Extended.Dim()
	for _, u := range sortedKeys(users) {
		logs := users[u]
		features.SortLogs(logs)
		s := features.NewStudent(comps)
		for _, l := range logs {
			a := testAttempt{exercise: -1, name: l.Exercise, correct: l.Correct}
			if e, ok := index[l.Exercise]; ok {
				a.exercise = e
				a.x = make([]float64, dim)
				s.FeaturesOf(features.Extended, l, difficulty[l.Exercise](l.ProblemType), a.x)
			}
			b.attempts = append(b.attempts, a)
			s.Apply(l)
		}
	}
	fmt.Fprintf(stderr, "test %s: %d attempts, %d bad rows, %d students\n", testPath, len(b.attempts), bad, len(users))
	return b, nil
}

// pipelineAutoL2 is the selection of kmtrain --l2=auto --l2_knowledge=best.
func pipelineAutoL2() *train.L2Selection {
	sel := trainer.DefaultAutoL2()
	sel.TailBest = true
	return sel
}

// configResult is the evaluation of one configuration.
type configResult struct {
	report                     evaluate.Report
	trained, failed, knowledge int
	seconds                    float64
}

// run fits every exercise on the columns of keep, on workers goroutines,
// and evaluates the test attempts; extendedBest is kmtrain's
// --l2_extended=best.
func (b *featureBench) run(keep [features.NumExtras]bool, extendedBest bool, workers int, stderr io.Writer) (configResult, error) {
	start := time.Now()
	cols := featureColumns(keep)
	all := len(cols) == features.Extended.Dim()
	opts := trainer.Options{Penalty: train.Penalty{L2: train.DefaultL2}, Settings: train.DefaultSettings(), Workers: 1, AutoL2: pipelineAutoL2(), ExtendedBest: extendedBest}

	thetas := make([][]float64, len(b.exercises))
	errs := make([]error, len(b.exercises))
	withKnowledge := make([]bool, len(b.exercises))
	// Largest first, so that the largest exercise does not start last.
	order := make([]int, len(b.exercises))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Compare(b.exercises[y].rows.Len(), b.exercises[x].rows.Len())
	})
	next := make(chan int, len(order))
	for _, i := range order {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(workers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e := &b.exercises[i]
				d := e.rows
				if !all {
					d = e.rows.Select(cols)
				}
				f, err := trainer.FitExercise("", e.name, d, e.seen, opts, false)
				if err != nil {
					errs[i] = err
					continue
				}
				thetas[i] = f.Thetas.Thetas
				withKnowledge[i] = !math.IsInf(f.KnowledgeL2, 1)
			}
		}()
	}
	wg.Wait()

	var r configResult
	for i, err := range errs {
		switch {
		case err != nil:
			// The pipeline skips such an exercise: its attempts have no
			// thetas.
			r.failed++
			fmt.Fprintf(stderr, "exercise %s: %v\n", b.exercises[i].name, err)
		case thetas[i] != nil:
			r.trained++
			if withKnowledge[i] {
				r.knowledge++
			}
		}
	}
	acc := evaluate.NewAccumulator()
	x := make([]float64, len(cols))
	for _, a := range b.attempts {
		at := evaluate.Attempt{Exercise: a.name, Correct: a.correct}
		if a.exercise >= 0 && thetas[a.exercise] != nil {
			for j, c := range cols {
				x[j] = a.x[c]
			}
			at.P, at.HasP = train.Predict(thetas[a.exercise], x), true
		}
		if err := acc.Add(at); err != nil {
			return r, err
		}
	}
	r.report = acc.Report()
	r.seconds = time.Since(start).Seconds()
	return r, nil
}
