// Command kmstream scores every attempt live with the current model version
// and watches each exercise's log-likelihood as it happens: ProblemLogs
// arrive on a Pub/Sub subscription, each student's replay state lives in
// Beam state, and per exercise and window (an hour by default) it writes
// the attempts, mean log-likelihood, AUC and accuracy, a dashboard
// regenerated as windows close, and alerts when an exercise falls below its
// held-out log-likelihood. See pipeline.BuildStream.
//
// A local try, on the Pub/Sub emulator:
//
//	gcloud beta emulators pubsub start --host-port=127.0.0.1:8085 &
//	export PUBSUB_EMULATOR_HOST=127.0.0.1:8085
//	go run ./cmd/kmtrain                                  # a model in ./out
//	go run ./cmd/kmpublish                                # the embedded sample
//	go run ./cmd/kmstream --window=24h --idle_stop=10s    # writes ./stream
//
// In production, on Dataflow (the runner's own Pub/Sub source,
// exactly-once), with the version current in Datastore:
//
//	kmstream --runner=dataflow --project=P --region=R \
//	         --subscription=projects/P/subscriptions/problemlogs-kmstream \
//	         --datastore_project=P --output=gs://bucket/live
//
// A separate command, not kmmonitor --streaming: a streaming job is
// started once and runs for weeks, is updated in place and drained, and
// its flags (subscription, window, lateness, alerts) share nothing with a
// monitoring run's but the model's.
//
// On failure kmstream prints one line, "kmstream: <the cause>".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
	"github.com/kmtrain/knowledgemodel/runners"
	_ "github.com/kmtrain/knowledgemodel/sample" // the embed:// file system
	"github.com/kmtrain/knowledgemodel/transforms"
)

var defaults = pipeline.DefaultStreamOptions()

var (
	subscription = flag.String("subscription", defaults.PubSub.Subscription, "Pub/Sub subscription of the ProblemLogs: a name in --pubsub_project, or projects/P/subscriptions/S.")
	psProject    = flag.String("pubsub_project", "", "Project of the subscription (default: $PUBSUB_PROJECT_ID, else kmtrain-local on the emulator, else --project).")
	input        = flag.String("input", "", "Instead of a subscription, ProblemLog files replayed as a stream (comma-separated globs), each log at its time_done.")
	columns      = flag.String("columns", "", "Input column names of --input and --history where they differ from the ProblemLog schema, as field=column pairs.")
	history      = flag.String("history", "", "ProblemLog files of the attempts before the stream (comma-separated globs): replayed into the students' states at the start, not scored. Without it, a student is new when first seen (counted as students_without_history when the first attempt is not problem 1).")

	modelDir           = flag.String("model", defaults.Model, "The model version to score with: a kmtrain output directory (local or gs://), polled for a newer version. Not with --datastore_project.")
	datastoreProject   = flag.String("datastore_project", "", "Score with the version current in Cloud Datastore in this project (DATASTORE_EMULATOR_HOST is honoured), switching when another becomes current.")
	datastoreNamespace = flag.String("datastore_namespace", "", "Datastore namespace of the model.")
	modelVersion       = flag.String("model_version", "", "With --datastore_project: score with this version, never switching.")
	poll               = flag.Duration("poll", defaults.Poll, "How often each worker looks for a newer model version (0: never).")

	windowSize = flag.Duration("window", defaults.Window, "Length of the fixed event-time windows (24h: days, as kmmonitor's).")
	lateness   = flag.Duration("allowed_lateness", defaults.AllowedLateness, "How long after a window's end attempts still count in it; also how far back a student's out-of-order attempt is still applied in order.")
	maxDelay   = flag.Duration("max_delay", defaults.PubSub.MaxDelay, "Pulled read: how much earlier than the latest time_done an attempt may arrive before it is late.")
	readers    = flag.Int("readers", 1, "Pulled read: how many readers pull in parallel.")
	stopAfter  = flag.Int64("stop_after", 0, "Pulled read: stop after this many messages (0: never); for tests and benchmarks.")
	idleStop   = flag.Duration("idle_stop", 0, "Pulled read: stop once nothing has arrived for this long after something did (0: never).")

	output      = flag.String("output", defaults.Output, "Directory of the windows, live.html, alerts.json and deadletters/ (local or gs://).")
	alertDrop   = flag.Float64("alert_drop", defaults.Alerts.Drop, "Alert when an exercise's window log-likelihood is this far (nats per attempt) below its held-out one (0: no alerts).")
	alertMin    = flag.Int64("alert_min_attempts", defaults.Alerts.MinAttempts, "Attempts a window needs on an exercise before it can alert.")
	alertTopic  = flag.String("alert_topic", "", "Pub/Sub topic (projects/P/topics/T) each alert is also published to, as JSON.")
	predictions = flag.Bool("predictions", false, "Also write every scored attempt (user, exercise, time_done, correct, p, model_version) to --output/predictions/, a CSV file per bundle.")
	bqOutput    = flag.String("bq_output", "", "BigQuery table project.dataset.table each window's firings are streamed into (a row per firing and exercise; the highest pane is the window's result); created if missing.")
	gcpProjectF = flag.Lookup("project")
)

func main() {
	flag.Parse()
	beam.Init()
	if err := run(context.Background()); err != nil {
		errline.Print(os.Stderr, "kmstream", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	opts, err := options()
	if err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.BuildStream(s, opts); err != nil {
		return err
	}
	from := opts.Input
	if opts.Input == "" {
		from = pubsublogs.SubscriptionName(opts.PubSub.Project, opts.PubSub.Subscription)
	}
	fmt.Fprintf(os.Stderr, "kmstream: scoring %s with %s on the %s runner, %v windows, writing %s\n",
		from, opts.ModelSource(), runners.Name(), opts.Window, opts.Output)
	began := time.Now()
	runners.Streaming()
	if _, err := runners.Run(ctx, p); err != nil {
		return fmt.Errorf("pipeline failed: %w", err)
	}
	if why, _ := runners.Detached(); why != "" {
		fmt.Println(why)
		return nil
	}
	fmt.Printf("stream ended after %.1fs: windows, %s and %s in %s\n", time.Since(began).Seconds(),
		transforms.LiveDashboardFile, transforms.LiveAlertsFile, opts.Output)
	return nil
}

// options reads the flags into the pipeline's options.
func options() (pipeline.StreamOptions, error) {
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	o := defaults
	cols, err := problemlogs.ParseColumns(*columns)
	if err != nil {
		return o, err
	}
	o.Columns, o.Input, o.History = cols, *input, *history
	if *input != "" {
		if explicit["subscription"] {
			return o, fmt.Errorf("give --subscription or --input, not both")
		}
		o.PubSub.Subscription = ""
	} else {
		o.PubSub = pubsublogs.ReadOptions{
			Project: pubsubProject(), Subscription: *subscription, Native: runners.Name() == "dataflow",
			Readers: *readers, MaxDelay: *maxDelay, StopAfter: *stopAfter, IdleStop: *idleStop,
		}
	}
	o.Model, o.Poll = *modelDir, *poll
	if *datastoreProject != "" {
		if explicit["model"] {
			return o, fmt.Errorf("give --model or --datastore_project, not both")
		}
		o.Model = ""
		o.Datastore = &transforms.Datastore{Project: *datastoreProject, Namespace: *datastoreNamespace}
		o.Version = *modelVersion
	} else if explicit["datastore_namespace"] || explicit["model_version"] {
		return o, fmt.Errorf("--datastore_namespace and --model_version need --datastore_project")
	}
	o.Window, o.AllowedLateness, o.Output = *windowSize, *lateness, *output
	o.Alerts = transforms.AlertOptions{Drop: *alertDrop, MinAttempts: *alertMin, Topic: *alertTopic}
	if *bqOutput != "" {
		o.BigQuery = &transforms.BigQueryOutput{Table: *bqOutput}
	}
	o.Predictions = *predictions
	if err := runners.CheckWorkerPaths(runners.PathFlag{Name: "input", Value: o.Input}, runners.PathFlag{Name: "history", Value: o.History},
		runners.PathFlag{Name: "model", Value: o.Model}, runners.PathFlag{Name: "output", Value: o.Output}); err != nil {
		return o, err
	}
	return o, o.Validate()
}

// pubsubProject is the subscription's project when its name is short.
func pubsubProject() string {
	if strings.HasPrefix(*subscription, "projects/") {
		return ""
	}
	if *psProject != "" {
		return *psProject
	}
	if p := os.Getenv("PUBSUB_PROJECT_ID"); p != "" {
		return p
	}
	if os.Getenv("PUBSUB_EMULATOR_HOST") != "" {
		return "kmtrain-local"
	}
	if gcpProjectF != nil {
		return gcpProjectF.Value.String()
	}
	return ""
}
