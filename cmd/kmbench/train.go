package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// exerciseData is the training set of one exercise.
type exerciseData struct {
	name string
	data *train.Dataset
}

// runTrain implements "kmbench train".
//
// Output: one line per exercise in sorted order and a total line, in exactly
// the format of shared/anchors/scipy_train.py:
//
//	exercise=%s rows=%d loss=%.12f iterations=%d seconds=%.4f
//	total exercises=%d rows=%d seconds=%.4f method=lbfgs l2=%g
//
// The seconds cover the optimiser only, not loading the file. With --runs N
// the whole training is repeated N times; the exercise lines are those of the
// first run, each run's wall time is reported on stderr, and the total line
// gives the median over the runs. A run whose results differ bit for bit
// from the first run's is reported as an error.
//
// Concurrency: exercises are independent, so they are trained concurrently
// on --workers goroutines (default GOMAXPROCS), each Fit on one goroutine.
// Exercises are handed out largest first, so that the largest exercise does
// not start last and leave the other cores idle at the end. The per-exercise
// seconds are then that exercise's own optimiser wall time, and the total
// seconds are the wall time of the whole training phase, from the start of
// the first fit to the end of the last: not the sum of the per-exercise times.
// --workers 1 trains the exercises one after the other, like the script.
// Results do not depend on the number of workers.
func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmbench train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := train.DefaultSettings()
	rowsPath := fs.String("rows", "", "training-rows CSV `file` (plain or .gz)")
	l2 := fs.Float64("l2", train.DefaultL2, "L2 penalty on every theta but the bias")
	minRows := fs.Int("min_rows", 1, "skip exercises with fewer rows")
	maxIter := fs.Int("max_iterations", def.MaxIterations, "most L-BFGS iterations per exercise")
	gtol := fs.Float64("gradient_tolerance", def.GradientTolerance, "stop when the gradient's infinity norm is below this")
	// The spellings of scipy_train.py, so that both take the same flags.
	fs.IntVar(maxIter, "max_iter", def.MaxIterations, "same as --max_iterations")
	fs.Float64Var(gtol, "gtol", def.GradientTolerance, "same as --gradient_tolerance")
	runs := fs.Int("runs", 1, "repeat the training this many times and report the median total")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "exercises trained concurrently")
	share := fs.Int("share", train.ShareAuto, "trailing columns evaluated once per run of equal values: 0 none, -1 automatic (train.Objective.Share)")
	verbose := fs.Bool("v", false, "report every exercise's status and evaluation count on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the training phase to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *rowsPath == "" {
		return errors.New("--rows is required")
	}
	if *runs < 1 || *workers < 1 {
		return errors.New("--runs and --workers must be at least 1")
	}
	s := def
	s.MaxIterations = *maxIter
	s.GradientTolerance = *gtol
	p := train.Penalty{L2: *l2}

	all, err := loadExercises(*rowsPath)
	if err != nil {
		return err
	}
	var exs []exerciseData
	totalRows := 0
	for _, e := range all {
		if e.data.Len() >= *minRows {
			exs = append(exs, e)
			totalRows += e.data.Len()
		}
	}

	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var first []train.Result
	var totals []time.Duration
	var fitErr error
	for r := 0; r < *runs; r++ {
		results, errs, wall := trainAll(exs, p, *share, s, *workers)
		totals = append(totals, wall)
		if *runs > 1 {
			fmt.Fprintf(stderr, "run=%d seconds=%.4f\n", r+1, wall.Seconds())
		}
		if r == 0 {
			first = results
			for i, e := range exs {
				res := results[i]
				if errs[i] != nil {
					fmt.Fprintf(stderr, "exercise=%s: %v\n", e.name, errs[i])
					fitErr = errors.Join(fitErr, fmt.Errorf("exercise %s: %w", e.name, errs[i]))
				} else if *verbose || !res.Converged() {
					fmt.Fprintf(stderr, "exercise=%s status=%v evaluations=%d\n", e.name, res.Status, res.Evaluations)
				}
				fmt.Fprintf(out, "exercise=%s rows=%d loss=%.12f iterations=%d seconds=%.4f\n",
					e.name, e.data.Len(), res.Loss, res.Iterations, res.Duration.Seconds())
			}
			continue
		}
		for i := range exs {
			if !sameResult(first[i], results[i]) {
				fitErr = errors.Join(fitErr, fmt.Errorf("run %d: exercise %s: result differs from run 1", r+1, exs[i].name))
			}
		}
	}
	fmt.Fprintf(out, "total exercises=%d rows=%d seconds=%.4f method=lbfgs l2=%g\n",
		len(exs), totalRows, median(totals).Seconds(), p.L2)
	return fitErr
}

// trainAll fits every exercise with penalty p and sharing share on the given
// number of goroutines, each fit on one, and returns the results in the
// order of exs and the wall time of the whole phase.
func trainAll(exs []exerciseData, p train.Penalty, share int, s train.Settings, workers int) ([]train.Result, []error, time.Duration) {
	results := make([]train.Result, len(exs))
	errs := make([]error, len(exs))
	order := make([]int, len(exs))
	for i := range order {
		order[i] = i
	}
	// Largest first; ties in name order, so the schedule is reproducible.
	sort.SliceStable(order, func(a, b int) bool {
		return exs[order[a]].data.Len() > exs[order[b]].data.Len()
	})
	next := make(chan int, len(exs))
	for _, i := range order {
		next <- i
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(exs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = train.Fit(&train.Objective{Data: exs[i].data, Penalty: p, Share: share}, s)
			}
		}()
	}
	wg.Wait()
	return results, errs, time.Since(start)
}

func sameResult(a, b train.Result) bool {
	same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return same(a.Loss, b.Loss) && a.Iterations == b.Iterations && a.Status == b.Status && slices.EqualFunc(a.Thetas, b.Thetas, same)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// loadExercises reads a training-rows CSV, plain or gzip-compressed, and
// returns one Dataset per exercise, sorted by exercise name.
func loadExercises(path string) ([]exerciseData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	by := map[string]*train.Dataset{}
	err = features.ReadRowsCSV(r, func(row features.Row) error {
		d := by[row.Exercise]
		if d == nil {
			d = train.NewDataset(features.NumFeatures, 256)
			by[row.Exercise] = d
		}
		d.Add(row.X[:], row.Correct)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	exs := make([]exerciseData, 0, len(by))
	for name, d := range by {
		exs = append(exs, exerciseData{name, d})
	}
	slices.SortFunc(exs, func(a, b exerciseData) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return exs, nil
}
