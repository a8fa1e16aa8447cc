// Command kmmonitor measures how well a version of the knowledge model
// predicts the ProblemLogs of a window: per exercise and day, the attempts,
// the mean log-likelihood, the AUC and the accuracy of the model's
// prediction of each attempt from the attempts before it. It writes
// monitor.csv, a static HTML dashboard (dashboard.html: the exercises whose
// log-likelihood dropped most, and each one's log-likelihood and attempts
// per day) and monitor_summary.json, and with --bq_output loads the rows
// into a BigQuery table.
//
// With no flags it monitors the sample embedded in the binary with the
// model kmtrain wrote to ./out, and writes ./monitor:
//
//	go run ./cmd/kmtrain && go run ./cmd/kmmonitor
//
// Usage:
//
//	kmmonitor [--input='logs/*.csv.gz'] [--model=./out] [--output=./monitor] [--runner=prism|direct]
//
// In production the logs come from BigQuery and the model is the one the
// webapp serves, from Datastore:
//
//	kmmonitor --bq_table=project.dataset.problemlogs --start=-90d --end=today \
//	          --datastore_project=project [--model_version=V] \
//	          [--output=gs://bucket/monitor] [--bq_output=project.dataset.monitor]
//
// The input flags are kmtrain's, with the same names and meanings.
//
// On failure kmmonitor prints one line, "kmmonitor: <the cause>", without the
// runner's frames around it; KMTRAIN_DEBUG=1 prints the whole error as well.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/cmd/internal/sourceflags"
	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/transforms"
)

var defaults = pipeline.DefaultMonitorOptions()

// The input flags are kmtrain's.
var source = sourceflags.Register(flag.CommandLine, "Project the BigQuery jobs (the query, the --bq_output load) run in and are billed to (default: the table's project).")

var (
	modelDir           = flag.String("model", defaults.Model, "The model version to monitor: a kmtrain output directory (local or gs://). Not with --datastore_project.")
	datastoreProject   = flag.String("datastore_project", "", "Monitor a model version in Cloud Datastore in this project, the current one unless --model_version names one (DATASTORE_EMULATOR_HOST is honoured).")
	datastoreNamespace = flag.String("datastore_namespace", "", "Datastore namespace of the model (default: the default namespace).")
	modelVersion       = flag.String("model_version", "", "With --datastore_project: the version to monitor instead of the current one.")

	output   = flag.String("output", defaults.Output, "Directory for monitor.csv, dashboard.html and monitor_summary.json (local or gs://); with --bq_output, files are written only if it is given.")
	bqOutput = flag.String("bq_output", "", "BigQuery table project.dataset.table to load the (exercise, day) rows into; it is created if needed and its contents replaced. The load job runs in --bq_project (default: the table's project).")
)

func main() {
	flag.Parse()
	beam.Init()
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if err := run(context.Background(), explicit); err != nil {
		errline.Print(os.Stderr, "kmmonitor", err)
		os.Exit(1)
	}
}

// run monitors; explicit names the flags given on the command line, whose
// presence, not only value, matters.
func run(ctx context.Context, explicit map[string]bool) error {
	opts, err := options(explicit)
	if err != nil {
		return err
	}
	// Fail now, with a clear message, on input or a model that is not there.
	if opts.BigQuery == nil {
		if _, err := transforms.MatchFiles(ctx, opts.Input); err != nil {
			return err
		}
	}
	if opts.Datastore == nil {
		dir := strings.TrimSuffix(opts.Model, "/")
		if _, err := transforms.MatchFiles(ctx, dir+"/"+model.ThetasFile); err != nil &&
			!transforms.Exists(ctx, dir+"/"+model.PublishingFile) { // a publish in progress
			return fmt.Errorf("--model=%s: no %s there (kmtrain --output=%s writes a model): %v", opts.Model, model.ThetasFile, opts.Model, err)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.BuildMonitor(s, opts); err != nil {
		return err
	}
	began := time.Now()
	from := opts.Input
	if opts.BigQuery != nil {
		from = opts.BigQuery.Describe()
	}
	fmt.Fprintf(os.Stderr, "kmmonitor: monitoring %s on %s on the %s runner\n", opts.ModelSource(), from, runners.Name())
	if _, err := runners.Run(ctx, p); err != nil {
		return fmt.Errorf("pipeline failed (nothing was written to %s): %w", destinations(opts), err)
	}
	if why, submitted := runners.Detached(); why != "" {
		fmt.Println(why)
		if submitted {
			fmt.Printf("the monitoring is written to %s when the job succeeds\n", destinations(opts))
		}
		return nil
	}
	report(opts, time.Since(began))
	return nil
}

// options reads the flags into the pipeline's options.
func options(explicit map[string]bool) (pipeline.MonitorOptions, error) {
	opts := defaults
	opts.Model, opts.Output = *modelDir, *output
	src, err := source.Source(explicit, launched)
	if err != nil {
		return opts, err
	}
	opts.Input, opts.BigQuery, opts.Columns, opts.ShardBytes = src.Input, src.BigQuery, src.Columns, src.ShardBytes
	if *datastoreProject != "" {
		if explicit["model"] {
			return opts, fmt.Errorf("give --model or --datastore_project, not both")
		}
		opts.Model = ""
		opts.Datastore = &transforms.Datastore{Project: *datastoreProject, Namespace: *datastoreNamespace}
		opts.Version = *modelVersion
	} else if explicit["datastore_namespace"] || explicit["model_version"] {
		return opts, fmt.Errorf("--datastore_namespace and --model_version need --datastore_project")
	}
	if *bqOutput != "" {
		opts.BQOutput = &transforms.BigQueryOutput{
			Table: *bqOutput, Project: *source.BQProject, Location: *source.BQLocation,
			Endpoint: *source.BQEndpoint, Insecure: source.Insecure(),
		}
		if !explicit["output"] {
			opts.Output = ""
		}
	}
	if err := runners.CheckWorkerPaths(runners.PathFlag{Name: "input", Value: opts.Input},
		runners.PathFlag{Name: "model", Value: opts.Model}, runners.PathFlag{Name: "output", Value: opts.Output}); err != nil {
		return opts, err
	}
	return opts, opts.Validate()
}

// launched is when the run started: relative windows count from it.
var launched = time.Now()

// destinations names where the monitoring goes.
func destinations(opts pipeline.MonitorOptions) string {
	var d []string
	if opts.Output != "" {
		d = append(d, opts.Output)
	}
	if opts.BQOutput != nil {
		d = append(d, "bigquery:"+opts.BQOutput.Table)
	}
	return strings.Join(d, " or ")
}

// report prints the run's summary, when the output is local.
func report(opts pipeline.MonitorOptions, elapsed time.Duration) {
	if opts.Output == "" || strings.Contains(opts.Output, "://") {
		fmt.Printf("monitoring written to %s in %.1fs\n", destinations(opts), elapsed.Seconds())
		return
	}
	b, err := os.ReadFile(filepath.Join(opts.Output, monitor.SummaryFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmmonitor: reading the summary:", err)
		return
	}
	var s monitor.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		fmt.Fprintln(os.Stderr, "kmmonitor: reading the summary:", err)
		return
	}
	fmt.Printf("version %s monitored in %.1fs: %s\n", s.ModelVersion, elapsed.Seconds(), destinations(opts))
	if s.SourceRows > 0 {
		fmt.Printf("  logs read %d of %d rows from %s; bad rows %d\n", s.LogsRead, s.SourceRows, s.Input, s.BadRows)
	} else {
		fmt.Printf("  logs read %d from %d files; bad rows %d\n", s.LogsRead, s.FilesRead, s.BadRows)
	}
	fmt.Printf("  students %d; attempts scored %d, on exercises without thetas %d (%d exercises)\n",
		s.Students, s.AttemptsScored, s.AttemptsNoThetas, len(s.NoThetasExercises))
	fmt.Printf("  %d exercises over %d days (%s to %s): %d rows\n", s.Exercises, s.Days, s.First, s.Last, s.Rows)
	fmt.Printf("  dashboard: %s\n", filepath.Join(opts.Output, monitor.DashboardFile))
}
