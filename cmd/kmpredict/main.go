// Command kmpredict answers what the webapp asks of the knowledge model: the
// probability that a student gets their next problem of an exercise right,
// given the student's history. It loads a trained version from a kmtrain
// output directory or the current version from Datastore.
//
// Usage:
//
//	kmpredict --model=./out --history=logs.csv [--exercise=addition_1,subtraction_1]
//	kmpredict --datastore_project=P [--datastore_namespace=N] --history=logs.csv [--exercise=...]
//	kmpredict --model=./out --history=logs.csv --rank
//
// The history is ProblemLogs (CSV with a header or newline-delimited JSON,
// optionally gzipped) of one or more students, in any order. For each
// student and exercise kmpredict prints a CSV line user,exercise,p; p is
// empty where the version has no thetas for the exercise (the webapp treats
// such an exercise as infinitely difficult). Without --exercise it predicts
// each exercise the student has attempted. A version trained with
// --features=extended also reads the next problem's type (--problem_type)
// and time (--at).
//
// With --rank it ranks, for each student, every exercise the version has
// thetas for, those never attempted included, by P(correct), the likeliest
// first, as the webapp picks challenge cards: CSV lines
// user,rank,exercise,p,attempts (attempts: the student's at the exercise so
// far; 0 for one not started).
//
// On failure kmpredict prints one line, "kmpredict: <the cause>", without the
// runner's frames around it; KMTRAIN_DEBUG=1 prints the whole error as well.
package main

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/store"
)

var (
	modelDir           = flag.String("model", "", "A kmtrain output directory (thetas.jsonl, components.jsonl).")
	datastoreProject   = flag.String("datastore_project", "", "Load the current version from Datastore in this project instead (DATASTORE_EMULATOR_HOST is honoured).")
	datastoreNamespace = flag.String("datastore_namespace", "", "Datastore namespace of the model.")
	history            = flag.String("history", "", "ProblemLogs of the students to predict for (CSV with a header or NDJSON, optionally .gz).")
	exercises          = flag.String("exercise", "", "Comma-separated exercises to predict (default: each exercise the student attempted).")
	problemType        = flag.String("problem_type", "", "For a model trained with --features=extended: the problem type of the next problem (default: one training did not see, whose difficulty is the exercise's).")
	nextAt             = flag.String("at", "", "For a model trained with --features=extended: when the next attempt is made, RFC 3339 (default: at the student's latest attempt).")
	columns            = flag.String("columns", "", "History column names where they differ from the ProblemLog schema, as field=column pairs.")
	rank               = flag.Bool("rank", false, "Rank every exercise with thetas, never attempted ones included, by P(correct) for each student (not with --exercise).")
)

func main() {
	flag.Parse()
	if err := run(context.Background(), os.Stdout); err != nil {
		errline.Print(os.Stderr, "kmpredict", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	if (*modelDir == "") == (*datastoreProject == "") {
		return fmt.Errorf("give one of --model and --datastore_project")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: kmpredict takes only flags, and flags after it are not read", flag.Arg(0))
	}
	if *datastoreNamespace != "" && *datastoreProject == "" {
		return fmt.Errorf("--datastore_namespace needs --datastore_project")
	}
	if *history == "" {
		return fmt.Errorf("no --history")
	}
	cols, err := problemlogs.ParseColumns(*columns)
	if err != nil {
		return err
	}
	m, err := load(ctx)
	if err != nil {
		return err
	}
	students, err := readHistory(*history, cols)
	if err != nil {
		return err
	}
	var at time.Time
	if *nextAt != "" {
		if at, err = time.Parse(time.RFC3339Nano, *nextAt); err != nil {
			return fmt.Errorf("--at: %v", err)
		}
	}
	var want []string
	if *exercises != "" {
		if *rank {
			return fmt.Errorf("--rank ranks every exercise: give it without --exercise")
		}
		for _, e := range strings.Split(*exercises, ",") {
			if e = strings.TrimSpace(e); e != "" && !slices.Contains(want, e) {
				want = append(want, e)
			}
		}
		if len(want) == 0 {
			return fmt.Errorf("--exercise=%q names no exercise", *exercises)
		}
	}
	w := csv.NewWriter(out)
	if *rank {
		w.Write([]string{"user", "rank", "exercise", "p", "attempts"})
	} else {
		w.Write([]string{"user", "exercise", "p"})
	}
	users := make([]string, 0, len(students))
	for u := range students {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		logs := students[u]
		ex := want
		if ex == nil {
			for _, l := range logs {
				ex = append(ex, l.Exercise)
			}
			slices.Sort(ex)
			ex = slices.Compact(ex)
		}
		next := features.ProblemLog{User: u, ProblemType: *problemType, TimeDone: at}
		if at.IsZero() {
			for _, l := range logs {
				if l.TimeDone.After(next.TimeDone) {
					next.TimeDone = l.TimeDone
				}
			}
		}
		if *rank {
			for i, r := range m.Rank(logs, next) {
				w.Write([]string{u, strconv.Itoa(i + 1), r.Exercise, strconv.FormatFloat(r.P, 'g', 10, 64), strconv.Itoa(r.Attempts)})
			}
			continue
		}
		for _, e := range ex {
			p := ""
			next.Exercise = e
			if v, ok := m.PredictAttempt(logs, next); ok {
				p = strconv.FormatFloat(v, 'g', 10, 64)
			}
			w.Write([]string{u, e, p})
		}
	}
	w.Flush()
	return w.Error()
}

// load loads the model version to predict with.
func load(ctx context.Context) (*predict.Model, error) {
	if *modelDir != "" {
		return predict.LoadDir(*modelDir)
	}
	st, err := store.Open(ctx, *datastoreProject, *datastoreNamespace)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r, err := st.CurrentRecords(ctx)
	if err != nil {
		return nil, err
	}
	return predict.FromRecords(r)
}

// readHistory reads the ProblemLogs of a file per student. Bad rows are
// reported on stderr and left out.
func readHistory(path string, cols problemlogs.Columns) (map[string][]features.ProblemLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return parseHistory(r, path, cols, os.Stderr)
}

// parseHistory reads the ProblemLogs of the file name from r per student.
// Bad rows are reported on warn and left out.
func parseHistory(r io.Reader, name string, cols problemlogs.Columns, warn io.Writer) (map[string][]features.ProblemLog, error) {
	students := map[string][]features.ProblemLog{}
	bad := 0
	err := problemlogs.Read(r, name, cols, func(line int, l features.ProblemLog, err error) error {
		if err != nil {
			bad++
			fmt.Fprintf(warn, "kmpredict: %s:%d: skipped: %v\n", name, line, err)
			return nil
		}
		students[l.User] = append(students[l.User], l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(students) == 0 {
		return nil, fmt.Errorf("%s holds no ProblemLogs (%d bad rows)", name, bad)
	}
	return students, nil
}
