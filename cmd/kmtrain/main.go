// Command kmtrain trains the per-exercise thetas of Khan Academy's 2014
// knowledge model from ProblemLogs with an Apache Beam pipeline.
//
// With no flags it trains on a sample embedded in the binary and writes the
// model to ./out:
//
//	go run ./cmd/kmtrain
//
// Usage:
//
//	kmtrain --input='logs/*.csv.gz' [--components=components.jsonl] [--output=./out]
//	        [--export_rows=rows.csv] [--problem_numbers=1-5|all] [--min_rows=100]
//	        [--max_rows=200000] [--l2=0.001] [--max_iterations=1000]
//	        [--gradient_tolerance=1e-6] [--drop_gaps=true] [--runner=prism|direct]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/sample"
	"github.com/kmtrain/knowledgemodel/transforms"
)

var defaults = pipeline.DefaultOptions()

var (
	input          = flag.String("input", sample.ProblemLogs, "ProblemLog files: comma-separated globs (local, gs://), CSV with a header or newline-delimited JSON, optionally .gz. The default is a sample embedded in the binary.")
	columns        = flag.String("columns", "", "Input column names where they differ from the ProblemLog schema, as field=column pairs, e.g. user=student_id,time_done=ts.")
	components     = flag.String("components", "", "An existing components table (JSONL) to reuse; keys it lacks get components derived from the key.")
	output         = flag.String("output", defaults.Output, "Directory for thetas.jsonl, components.jsonl and summary.json (local or gs://).")
	exportRows     = flag.String("export_rows", "", "If set, write every training row to this CSV (the columns of Khan's expected_rows.csv).")
	problemNumbers = flag.String("problem_numbers", defaults.Window.String(), "Problem numbers whose attempts become training rows: LO-HI inclusive, N, or all.")
	dropGaps       = flag.Bool("drop_gaps", true, "Drop students whose problem numbers on an exercise do not step by one (Khan's rule).")
	minRows        = flag.Int("min_rows", defaults.MinRows, "Skip exercises with fewer training rows.")
	maxRows        = flag.Int("max_rows", defaults.MaxRows, "Train each exercise on at most this many rows, sampled deterministically (0: no cap).")
	l2             = flag.Float64("l2", defaults.Train.L2, "L2 penalty on every theta but the bias.")
	maxIterations  = flag.Int("max_iterations", defaults.Train.MaxIterations, "Most L-BFGS iterations per exercise.")
	gradTolerance  = flag.Float64("gradient_tolerance", defaults.Train.GradientTolerance, "Stop when the gradient's largest component is below this.")
	shardBytes     = flag.Int64("shard_bytes", 0, "Read uncompressed local files in byte ranges of this size (0: 64 MiB).")
	version        = flag.String("version", "", "Model version id (default: the start time, e.g. 20141105T120000Z).")
)

func main() {
	flag.Parse()
	beam.Init()
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "kmtrain:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	opts := defaults
	opts.Input, opts.Components, opts.Output, opts.ExportRows, opts.Version = *input, *components, *output, *exportRows, *version
	opts.KeepGaps = !*dropGaps
	opts.ShardBytes = *shardBytes
	opts.MinRows, opts.MaxRows = *minRows, *maxRows
	opts.Train.L2, opts.Train.MaxIterations, opts.Train.GradientTolerance = *l2, *maxIterations, *gradTolerance
	var err error
	if opts.Window, err = features.ParseWindow(*problemNumbers); err != nil {
		return err
	}
	if opts.Columns, err = problemlogs.ParseColumns(*columns); err != nil {
		return err
	}
	if opts.Version == "" {
		opts.Version = pipeline.NewVersion(time.Now())
	}
	// Fail now, with a clear message, on input that matches nothing.
	if _, err := transforms.MatchFiles(ctx, opts.Input); err != nil {
		return err
	}

	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, opts); err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "kmtrain: training version %s from %s on the %s runner\n", opts.Version, opts.Input, runners.Name())
	if _, err := runners.Run(ctx, p); err != nil {
		return fmt.Errorf("pipeline failed (nothing was written to %s): %w", opts.Output, err)
	}
	report(opts, time.Since(start))
	return nil
}

// report prints the run's summary, when the output is local.
func report(opts pipeline.Options, elapsed time.Duration) {
	if strings.Contains(opts.Output, "://") {
		fmt.Printf("version %s written to %s in %.1fs\n", opts.Version, opts.Output, elapsed.Seconds())
		return
	}
	b, err := os.ReadFile(filepath.Join(opts.Output, transforms.SummaryFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmtrain: reading the summary:", err)
		return
	}
	var s model.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		fmt.Fprintln(os.Stderr, "kmtrain: reading the summary:", err)
		return
	}
	fmt.Printf("version %s in %.1fs: %s\n", s.Version, elapsed.Seconds(), opts.Output)
	fmt.Printf("  logs read %d from %d files; bad rows %d%s\n", s.LogsRead, s.FilesRead, s.BadRows, reasons(s.BadRowReasons))
	fmt.Printf("  students kept %d, dropped %d (%d logs)\n", s.StudentsKept, s.StudentsDropped, s.LogsDropped)
	fmt.Printf("  rows %d (problem numbers %s); components reused %d, new %d\n", s.RowsEmitted, s.Settings.ProblemNumbers, s.ComponentsReused, s.ComponentsNew)
	fmt.Printf("  exercises trained %d (%d converged), skipped %d%s\n", s.ExercisesTrained, s.ExercisesConverged, s.ExercisesSkipped, reasons(s.SkipReasons))
	if len(s.EmptyFiles)+len(s.HeaderOnlyFiles) > 0 {
		fmt.Printf("  empty files %v, header-only files %v\n", s.EmptyFiles, s.HeaderOnlyFiles)
	}
}

// reasons formats counts by reason as " (reason: n, ...)", sorted.
func reasons[N int | int64](m map[string]N) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}
