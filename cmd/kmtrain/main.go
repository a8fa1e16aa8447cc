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
//	kmtrain --input='logs/*.csv.gz' [--preset=default|best|khan2014]
//	        [--components=components.jsonl] [--output=./out] [--export_rows=rows.csv]
//	        [--problem_numbers=1-5|all] [--features=khan2014|extended] [--l2=0.001|auto]
//	        [--min_rows=100] [--max_rows=200000] [--max_iterations=1000]
//	        [--gradient_tolerance=1e-6] [--drop_gaps=true] [--runner=prism|direct]
//
// The model settings start from a preset: default (the setting validated
// best: the extended features, every problem number, components keyed by
// exercise and answer, penalties by cross-validation), best (default's, but
// an exercise keeps its 6-feature model only where that validates better:
// the best results on ASSISTments) or khan2014 (Khan Academy's 2014 run
// exactly); the model flags change it where given.
//
// In production the ProblemLogs come from BigQuery and the model goes to
// Datastore, where the webapp reads it:
//
//	kmtrain --bq_table=project.dataset.problemlogs --start=2014-01-01 --end=2014-04-01 \
//	        --datastore_project=project [--components=datastore] [--promote=true]
//
// On failure kmtrain prints one line, "kmtrain: <the cause>", without the
// runner's frames around it; KMTRAIN_DEBUG=1 prints the whole error as well.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/cmd/internal/sourceflags"
	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/store"
	"github.com/kmtrain/knowledgemodel/trainer"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// defaults are the default preset's options: the flags' defaults.
var defaults = must(pipeline.Preset(pipeline.PresetDefault))

// l2Of and l2KnowledgeOf are the --l2 and --l2_knowledge of o.
func l2Of(o pipeline.Options) string {
	if o.AutoL2 != nil {
		return "auto"
	}
	return strconv.FormatFloat(o.L2, 'g', -1, 64)
}

func l2KnowledgeOf(o pipeline.Options) string {
	if o.AutoL2 != nil && o.AutoL2.TailBest {
		return "best"
	}
	return "one_se"
}

func l2ExtendedOf(o pipeline.Options) string {
	if o.ExtendedBest {
		return "best"
	}
	return "one_se"
}

func must(o pipeline.Options, err error) pipeline.Options {
	if err != nil {
		panic(err)
	}
	return o
}

var source = sourceflags.Register(flag.CommandLine, "Project the BigQuery query runs in and is billed to (default: the table's project).")

var (
	components      = flag.String("components", "", "An existing components table (JSONL) to reuse, or \"datastore\" (the default with --datastore_project); keys it lacks get components derived from the key.")
	output          = flag.String("output", defaults.Output, "Directory for thetas.jsonl, components.jsonl and summary.json (local or gs://).")
	exportRows      = flag.String("export_rows", "", "If set, write every training row to this CSV (the columns of Khan's expected_rows.csv).")
	preset          = flag.String("preset", pipeline.PresetDefault, "The model settings to start from, which --features, --l2, --l2_knowledge, --l2_extended, --component_key and --problem_numbers change where given (the defaults shown for them are the default preset's): default (the best validated: extended features, all problem numbers, components by exercise,correct, l2 auto with the KnowledgeState by its best score), best (the best measured: default's with --l2_extended=best) or khan2014 (Khan Academy's 2014 run: 107 features, problem numbers 1-5, components by exercise,problem_type,correct, l2 0.001).")
	problemNumbers  = flag.String("problem_numbers", defaults.Window.String(), "Problem numbers whose attempts become training rows: LO-HI inclusive, N, or all.")
	l2Knowledge     = flag.String("l2_knowledge", l2KnowledgeOf(defaults), "With --l2=auto, how the KnowledgeState is admitted: one_se (only if it validates better than leaving it out by a standard error: never worse than the 6 features on new students) or best (the best validation score: better with --component_key=exercise,correct).")
	l2Extended      = flag.String("l2_extended", l2ExtendedOf(defaults), "With --l2=auto and --features=extended, when an exercise keeps its 6-feature model instead: one_se (unless the whole model validates better by a standard error: never worse than the 6 features on the embedded sample) or best (only where the 6-feature model validates better: the preset best, better on ASSISTments).")
	featureSet      = flag.String("features", defaults.Features.String(), "The feature set: khan2014 (Khan Academy's 107 features) or extended (9 more: the problem type's difficulty estimated on the training rows, the student's attempts and correct answers overall and on the exercise, time since the last attempt at the exercise, whether it is the first, the previous answer, and an average of the recent answers at every exercise).")
	componentKey    = flag.String("component_key", defaults.Keying.String(), "What a random component is keyed by: exercise,problem_type,correct (Khan's) or exercise,correct (coarser: better where problem types are many and sparse).")
	dropGaps        = flag.Bool("drop_gaps", true, "Drop students whose problem numbers on an exercise do not step by one (Khan's rule).")
	minRows         = flag.Int("min_rows", defaults.MinRows, "Skip exercises with fewer training rows.")
	maxRows         = flag.Int("max_rows", defaults.MaxRows, "Train each exercise on at most this many rows, sampled deterministically (0: no cap).")
	l2              = flag.String("l2", l2Of(defaults), "L2 penalty on every theta but the bias, or auto: chosen per exercise by 5-fold cross-validation on its rows, the KnowledgeState with its own penalty (or left out).")
	maxIterations   = flag.Int("max_iterations", defaults.Train.MaxIterations, "Most L-BFGS iterations per exercise.")
	gradTolerance   = flag.Float64("gradient_tolerance", defaults.Train.GradientTolerance, "Stop when the gradient's largest component is below this.")
	holdoutFraction = flag.Float64("holdout_fraction", defaults.Holdout.Fraction, "Fraction of the students (by a hash of the user id) kept out of training and evaluated on; 0 evaluates nothing.")
	holdoutAfter    = flag.String("holdout_after", "", "Instead of --holdout_fraction: train on attempts before this time and evaluate those at or after it (a date, an RFC 3339 time, or relative: today, yesterday, -<N>d).")
	evalInput       = flag.String("eval_input", "", "Evaluate on the students of these files (globs) instead; then nothing is held out of --input.")
	evalPredictions = flag.String("eval_predictions", "", "Write every evaluated attempt with its prediction to this CSV (user,exercise,problem_type,problem_number,time_done,correct,p).")
	maxRegression   = flag.Float64("max_regression", defaults.MaxRegression, "Promotion gate: the most the new version's mean held-out log-likelihood may fall below the current version's (nats per attempt).")
	forcePromote    = flag.Bool("force_promote", false, "Promote the new version even if the gate rejects it; the summary says so.")
	version         = flag.String("version", "", "Model version id (default: the start time, e.g. 20141105T120000Z).")

	datastoreProject   = flag.String("datastore_project", "", "Write the model to Cloud Datastore in this project (DATASTORE_EMULATOR_HOST is honoured). Files are then written only if --output is given.")
	datastoreNamespace = flag.String("datastore_namespace", "", "Datastore namespace of the model (default: the default namespace).")
	promote            = flag.Bool("promote", true, "With --datastore_project: make the new version current once all of it is written; false leaves it staged.")
)

func main() {
	flag.Parse()
	beam.Init()
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if err := run(context.Background(), explicit); err != nil {
		errline.Print(os.Stderr, "kmtrain", err)
		os.Exit(1)
	}
}

// run trains; explicit names the flags given on the command line, whose
// presence, not only value, matters.
func run(ctx context.Context, explicit map[string]bool) error {
	opts, err := options(explicit)
	if err != nil {
		return err
	}
	// Fail now, with a clear message, on input that matches nothing.
	if err := checkInputs(ctx, opts); err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, opts); err != nil {
		return err
	}
	began := time.Now()
	from := opts.Input
	if opts.BigQuery != nil {
		from = opts.BigQuery.Describe()
	}
	fmt.Fprintf(os.Stderr, "kmtrain: training version %s from %s on the %s runner\n", opts.Version, from, runners.Name())
	if _, err := runners.Run(ctx, p); err != nil {
		return fmt.Errorf("pipeline failed (nothing was written to %s): %w", destinations(opts), err)
	}
	if why, submitted := runners.Detached(); why != "" {
		fmt.Println(why)
		if submitted {
			fmt.Printf("version %s is written to %s when the job succeeds\n", opts.Version, destinations(opts))
		}
		return nil
	}
	report(opts, time.Since(began))
	return nil
}

// options are the pipeline's options as the flags set them.
func options(explicit map[string]bool) (pipeline.Options, error) {
	opts, err := pipeline.Preset(*preset)
	if err != nil {
		return opts, fmt.Errorf("--preset: %v", err)
	}
	opts.Components, opts.Output, opts.ExportRows, opts.Version = *components, *output, *exportRows, *version
	src, err := source.Source(explicit, launched)
	if err != nil {
		return opts, err
	}
	opts.Input, opts.BigQuery, opts.Columns, opts.ShardBytes = src.Input, src.BigQuery, src.Columns, src.ShardBytes
	if *datastoreProject != "" {
		opts.Datastore = &transforms.Datastore{Project: *datastoreProject, Namespace: *datastoreNamespace, Promote: *promote}
		if !explicit["output"] {
			opts.Output = ""
		}
		// The thetas must be trained with the components the webapp
		// will look up: those already in Datastore.
		if !explicit["components"] {
			opts.Components = pipeline.ComponentsFromDatastore
		}
	} else if explicit["datastore_namespace"] || explicit["promote"] {
		return opts, fmt.Errorf("--datastore_namespace and --promote need --datastore_project")
	}
	opts.KeepGaps = !*dropGaps
	opts.MinRows, opts.MaxRows = *minRows, *maxRows
	opts.Train.MaxIterations, opts.Train.GradientTolerance = *maxIterations, *gradTolerance
	// The model's settings are the preset's but where a flag is given.
	switch *l2Knowledge {
	case "one_se", "best":
	default:
		return opts, fmt.Errorf("--l2_knowledge=%q: want one_se or best", *l2Knowledge)
	}
	switch *l2Extended {
	case "one_se", "best":
	default:
		return opts, fmt.Errorf("--l2_extended=%q: want one_se or best", *l2Extended)
	}
	if explicit["l2"] {
		switch {
		case *l2 == "auto" && opts.AutoL2 == nil:
			opts.AutoL2 = trainer.DefaultAutoL2()
		case *l2 != "auto":
			opts.AutoL2 = nil
			if opts.L2, err = strconv.ParseFloat(*l2, 64); err != nil {
				return opts, fmt.Errorf("--l2=%q: want a number or auto", *l2)
			}
		}
	}
	if explicit["l2_knowledge"] {
		if opts.AutoL2 == nil {
			return opts, fmt.Errorf("--l2_knowledge applies to --l2=auto")
		}
		opts.AutoL2.TailBest = *l2Knowledge == "best"
	}
	if explicit["l2_extended"] {
		if opts.AutoL2 == nil {
			return opts, fmt.Errorf("--l2_extended applies to --l2=auto")
		}
		opts.ExtendedBest = *l2Extended == "best"
	}
	opts.Holdout = transforms.Holdout{Fraction: *holdoutFraction}
	if *holdoutAfter != "" {
		if opts.Holdout.After, err = sourceflags.ParseBound("holdout_after", *holdoutAfter, launched); err != nil {
			return opts, err
		}
		if !explicit["holdout_fraction"] {
			opts.Holdout.Fraction = 0
		}
	}
	opts.EvalInput, opts.EvalPredictions = *evalInput, *evalPredictions
	opts.MaxRegression, opts.ForcePromote = *maxRegression, *forcePromote
	if explicit["problem_numbers"] {
		if opts.Window, err = features.ParseWindow(*problemNumbers); err != nil {
			return opts, err
		}
	}
	if explicit["features"] {
		if opts.Features, err = features.ParseFeatureSet(*featureSet); err != nil {
			return opts, err
		}
	}
	if explicit["l2_extended"] && opts.Features != features.Extended {
		return opts, fmt.Errorf("--l2_extended applies to --features=extended")
	}
	if explicit["component_key"] {
		if opts.Keying, err = features.ParseComponentKeying(*componentKey); err != nil {
			return opts, err
		}
	}
	if opts.Version == "" {
		opts.Version = pipeline.NewVersion(time.Now())
	}
	table := opts.Components // a file, or the table in Datastore
	if table == pipeline.ComponentsFromDatastore {
		table = ""
	}
	if err := runners.CheckWorkerPaths(
		runners.PathFlag{Name: "input", Value: opts.Input}, runners.PathFlag{Name: "eval_input", Value: opts.EvalInput},
		runners.PathFlag{Name: "components", Value: table}, runners.PathFlag{Name: "output", Value: opts.Output},
		runners.PathFlag{Name: "export_rows", Value: opts.ExportRows}, runners.PathFlag{Name: "eval_predictions", Value: opts.EvalPredictions},
	); err != nil {
		return opts, err
	}
	return opts, nil
}

// checkInputs checks that the files to read match something.
func checkInputs(ctx context.Context, opts pipeline.Options) error {
	if opts.BigQuery == nil {
		if _, err := transforms.MatchFiles(ctx, opts.Input); err != nil {
			return err
		}
	}
	if opts.EvalInput != "" {
		if _, err := transforms.MatchFiles(ctx, opts.EvalInput); err != nil {
			return fmt.Errorf("--eval_input: %v", err)
		}
	}
	return nil
}

// launched is when the run started: relative windows count from it.
var launched = time.Now()

// destinations names where the model goes.
func destinations(opts pipeline.Options) string {
	var d []string
	if opts.Output != "" {
		d = append(d, opts.Output)
	}
	if opts.Datastore != nil {
		d = append(d, opts.Datastore.String())
	}
	return strings.Join(d, " or ")
}

// promotedState says what became of a version the run was to promote: the
// gate may have rejected it, or another version become current meanwhile.
func promotedState(opts pipeline.Options) string {
	ctx := context.Background()
	st, err := store.Open(ctx, opts.Datastore.Project, opts.Datastore.Namespace)
	if err != nil {
		return "status unknown: " + err.Error()
	}
	defer st.Close()
	v, err := st.Version(ctx, opts.Version)
	switch {
	case err != nil:
		return "status unknown: " + err.Error()
	case v.Status == store.StatusRejected:
		return "rejected: " + v.Reason
	case v.Status == store.StatusStaged && len(v.History) > 0 && v.History[len(v.History)-1].From == store.StatusStaged &&
		v.History[len(v.History)-1].To == store.StatusStaged:
		return "staged, " + v.History[len(v.History)-1].Why
	}
	return v.Status
}

// report prints the run's summary, when the output is local.
func report(opts pipeline.Options, elapsed time.Duration) {
	if opts.Datastore != nil {
		state := "staged"
		if opts.Datastore.Promote {
			state = promotedState(opts)
		}
		fmt.Printf("version %s written to %s (%s) in %.1fs\n", opts.Version, opts.Datastore, state, elapsed.Seconds())
		if opts.Output == "" {
			return
		}
	}
	if strings.Contains(opts.Output, "://") {
		fmt.Printf("version %s written to %s in %.1fs\n", opts.Version, destinations(opts), elapsed.Seconds())
		return
	}
	b, err := os.ReadFile(filepath.Join(opts.Output, model.SummaryFile))
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
	if s.SourceRows > 0 {
		fmt.Printf("  logs read %d of %d rows from %s; bad rows %d%s\n", s.LogsRead, s.SourceRows, s.Input, s.BadRows, reasons(s.BadRowReasons))
	} else {
		fmt.Printf("  logs read %d from %d files; bad rows %d%s\n", s.LogsRead, s.FilesRead, s.BadRows, reasons(s.BadRowReasons))
	}
	fmt.Printf("  students kept %d, dropped %d (%d logs)\n", s.StudentsKept, s.StudentsDropped, s.LogsDropped)
	fmt.Printf("  rows %d (problem numbers %s); components reused %d, new %d\n", s.RowsEmitted, s.Settings.ProblemNumbers, s.ComponentsReused, s.ComponentsNew)
	fmt.Printf("  exercises trained %d (%d converged), skipped %d%s\n", s.ExercisesTrained, s.ExercisesConverged, s.ExercisesSkipped, reasons(s.SkipReasons))
	if e := s.Evaluation; e != nil {
		if c := s.EvalInputCounts; c != nil {
			fmt.Printf("  evaluated on: %s (logs read %d from %d files; bad rows %d%s)\n", s.Holdout, c.LogsRead, c.FilesRead, c.BadRows, reasons(c.BadRowReasons))
		} else {
			fmt.Printf("  held out: %s (%d students, %d logs)\n", s.Holdout, s.StudentsHeldOut, s.LogsHeldOut)
		}
		fmt.Printf("  evaluation on %d attempts (%d without thetas): %s\n", e.Overall.Attempts, e.NoThetas.Attempts, metrics(e.Overall))
		names := make([]string, 0, len(e.Baselines))
		for n := range e.Baselines {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("    baseline %-13s %s\n", n+":", metrics(e.Baselines[n].Overall))
		}
		if len(e.Segments) > 0 {
			fmt.Printf("  by the student's attempt at the exercise (AUC / log-likelihood): model | %s\n", strings.Join(names, " | "))
			for _, sg := range e.Segments {
				line := fmt.Sprintf("    %-5s %7d attempts: %s", sg.Segment, sg.Attempts, short(sg.Metrics))
				for _, n := range names {
					line += " | " + short(sg.Baselines[n])
				}
				fmt.Println(line)
			}
		}
		fmt.Printf("  report: %s\n", filepath.Join(opts.Output, transforms.ReportFile))
	}
	if g := s.Gate; g != nil {
		verdict := "passed"
		if !g.Passed {
			verdict = "REJECTED"
		}
		fmt.Printf("  promotion gate %s: %s\n", verdict, g.Reason)
	}
	if len(s.EmptyFiles)+len(s.HeaderOnlyFiles) > 0 {
		fmt.Printf("  empty files %v, header-only files %v\n", s.EmptyFiles, s.HeaderOnlyFiles)
	}
}

// metrics formats the headline metrics of an evaluation.
func metrics(m evaluate.Metrics) string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', 4, 64)
	}
	return fmt.Sprintf("AUC %s, log-likelihood %s, accuracy %s", f(m.AUC), f(m.LogLikelihood), f(m.Accuracy))
}

// short formats AUC / log-likelihood.
func short(m evaluate.Metrics) string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatFloat(*p, 'f', 4, 64)
	}
	return f(m.AUC) + " / " + f(m.LogLikelihood)
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
