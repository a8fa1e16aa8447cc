// Command kmsynth writes synthetic ProblemLogs drawn from planted thetas of
// the 2014 knowledge model, and the planted thetas, so that a training run
// on the logs can be checked to recover them.
//
// Usage:
//
//	kmsynth [flags] --out logs.csv.gz [--thetas planted.jsonl]
//
// The defaults write about 60,000 logs over 30 exercises, of which Khan's
// sampling window (problem numbers 1-5) keeps at least 300 rows for nearly
// every exercise. --logs is a target: kmsynth picks the number of students
// from a pilot run to hit it, unless --students is given. The output is the
// same, byte for byte, for the same flags.
//
// A summary goes to standard error: students, logs, malformed lines, and the
// rows per exercise that the --window would keep.
package main

import (
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/synth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kmsynth:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	def := synth.DefaultConfig()
	fs := flag.NewFlagSet("kmsynth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		logs         = fs.Int64("logs", 60000, "approximate number of logs to write (ignored if --students is set)")
		students     = fs.Int("students", 0, "number of students (0: enough for --logs)")
		exercises    = fs.Int("exercises", def.Exercises, "number of exercises")
		problemTypes = fs.Int("problem_types", def.ProblemTypes, "problem types per exercise")
		perStudent   = fs.Float64("exercises_per_student", def.ExercisesPerStudent, "mean number of exercises a student starts")
		seed         = fs.Uint64("seed", def.Seed, "random seed")
		out          = fs.String("out", "-", "output CSV file (.gz: gzip; -: standard output)")
		thetas       = fs.String("thetas", "", "write the planted thetas as JSONL to this file")
		badFraction  = fs.Float64("bad_fraction", 0, "probability of a malformed line after each log")
		extra        = fs.Bool("extra_columns", false, "write extra columns (time_taken, hint_used, a quoted topic) among the six")
		shuffle      = fs.Int("shuffle", 10000, "shuffle the logs within a window of this many (0: grouped by student, in time order)")
		window       = fs.String("window", "1-5", "problem-number window of the rows-per-exercise summary")
		minRows      = fs.Int("min_rows", 300, "rows per exercise the summary counts exercises against")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *thetas == "-" && *out == "-" {
		return errors.New("--thetas and --out both write to standard output: name a file for one of them")
	}
	win, err := features.ParseWindow(*window)
	if err != nil {
		return err
	}
	if !(*badFraction >= 0 && *badFraction <= 1) {
		return fmt.Errorf("--bad_fraction %v: want a probability", *badFraction)
	}
	c := def
	c.Exercises, c.ProblemTypes, c.ExercisesPerStudent = *exercises, *problemTypes, *perStudent
	c.Seed, c.Shuffle = *seed, *shuffle
	switch {
	case *students < 0:
		return fmt.Errorf("--students=%d: want a positive number", *students)
	case *students > 0:
		c.Students = *students
	case *logs > 0:
		if c.Students, err = synth.EstimateStudents(c, *logs); err != nil {
			return err
		}
	default:
		return errors.New("want --logs or --students")
	}
	g, err := synth.New(c)
	if err != nil {
		return err
	}

	start := time.Now()
	// Both files are staged under temporary names and renamed into place
	// only once both are whole: a failed run leaves the previous pair.
	type staged struct{ tmp, path string }
	var files []staged
	defer func() {
		for _, f := range files {
			os.Remove(f.tmp) // gone once renamed
		}
	}()
	if *thetas != "" {
		tmp, err := stageFile(*thetas, stdout, func(w io.Writer) error {
			return model.WriteThetasJSONL(w, g.Thetas())
		})
		if err != nil {
			return err
		}
		files = append(files, staged{tmp, *thetas})
	}
	inWindow := make(map[string]int)
	var st synth.Stats
	var cs synth.CSVStats
	tmp, err := stageFile(*out, stdout, func(w io.Writer) error {
		cw, err := synth.NewCSVWriter(w, synth.CSVOptions{ExtraColumns: *extra, BadFraction: *badFraction, Seed: c.Seed})
		if err != nil {
			return err
		}
		st, err = g.Generate(func(l features.ProblemLog) error {
			if win.Contains(l.ProblemNumber) {
				inWindow[l.Exercise]++
			}
			return cw.Write(l)
		})
		if err != nil {
			return err
		}
		cs = cw.Stats()
		return cw.Flush()
	})
	if err != nil {
		return err
	}
	files = append(files, staged{tmp, *out})
	for _, f := range slices.Backward(files) { // the logs first: the thetas are of them
		if f.tmp != "" {
			if err := os.Rename(f.tmp, f.path); err != nil {
				return err
			}
		}
	}

	fmt.Fprintf(stderr, "kmsynth: %d students, %d logs, %d malformed lines, %d exercises, seed %d, %.2fs\n",
		st.Students, st.Logs, cs.BadLines(), c.Exercises, c.Seed, time.Since(start).Seconds())
	counts := make([]int, 0, c.Exercises)
	enough := 0
	for _, name := range g.Exercises() {
		n := inWindow[name]
		counts = append(counts, n)
		if n >= *minRows {
			enough++
		}
	}
	slices.Sort(counts)
	fmt.Fprintf(stderr, "kmsynth: window %s rows per exercise: min %d, median %d, max %d; %d of %d exercises have >= %d\n",
		win, counts[0], counts[len(counts)/2], counts[len(counts)-1], enough, c.Exercises, *minRows)
	return nil
}

// stageFile writes the content of path, gzipped if it ends in .gz, with
// write: into a temporary file beside it, whose name it returns for the
// caller to rename over path, so that a failed or killed run leaves the
// previous file as it was. Path "-" is stdout, and the name "".
func stageFile(path string, stdout io.Writer, write func(io.Writer) error) (tmp string, err error) {
	if path == "-" {
		return "", write(stdout)
	}
	tmp = model.TempName(path, strconv.Itoa(os.Getpid()))
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			tmp = ""
		}
	}()
	if !strings.HasSuffix(path, ".gz") {
		return tmp, write(f)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err := write(zw); err != nil {
		return tmp, err
	}
	return tmp, zw.Close()
}
