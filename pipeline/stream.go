package pipeline

// The story of the streaming pipeline (BuildStream, cmd/kmstream): every
// attempt is scored as it happens, and each exercise's log-likelihood is
// watched window by window.
//
//  1. pubsublogs.Read reads the ProblemLogs published to a Pub/Sub
//     subscription, each at the event time of its time_done attribute
//     (Dataflow's own source there; a splittable DoFn that pulls
//     elsewhere). ParseMessages parses them; malformed ones are counted and
//     written to the dead-letter files. (Files can stand in for the
//     subscription: each log enters at its time_done, as published.)
//  2. HistoryOf, with a history, replays the students' earlier attempts
//     into their states first, unscored, so that a returning student is
//     not a newcomer.
//  3. ScoreLive keeps each student's ExerciseStates and KnowledgeState in
//     Beam state, holds attempts until the watermark passes them, and
//     scores each one with the current version before applying it; it
//     switches to a newer version at a bundle's start.
//  4. WatchWindows sums the scores per version, exercise and fixed window
//     of event time with batch evaluation's CombineFn: attempts, mean
//     log-likelihood, AUC, accuracy; late attempts refine the window.
//  5. WriteLive writes each window's rows (files, and with a table
//     BigQuery's streaming inserts), regenerates the dashboard and raises
//     alerts when an exercise falls below its held-out log-likelihood.

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// StreamOptions configures the streaming pipeline.
type StreamOptions struct {
	// PubSub is the subscription to read; with PubSub.Subscription empty,
	// Input is read instead.
	PubSub pubsublogs.ReadOptions
	// Input is comma-separated glob patterns of ProblemLog files replayed
	// as a stream, each log at its time_done.
	Input string
	// History (files) or HistoryBigQuery, not both, is the attempts before
	// the stream, replayed into the students' states and not scored;
	// empty: none, and students are new when the stream first sees them.
	History         string
	HistoryBigQuery *bqsource.Config
	// Columns maps the ProblemLog fields of the files' columns (and of a
	// BigQuery history whose Config names none of its own).
	Columns problemlogs.Columns

	// Model, Datastore and Version say which version scores, as for
	// monitoring; Poll is how often a worker looks for a newer one (a
	// changed directory, or a new current version).
	Model     string
	Datastore *transforms.Datastore
	Version   string
	Poll      time.Duration

	// Window is the length of the fixed windows; AllowedLateness how long
	// after a window's end attempts still count in it (and the horizon
	// within which a student's attempts are applied in time order).
	Window, AllowedLateness time.Duration

	// Output receives the windows, the dashboard, the alerts and the dead
	// letters.
	Output string
	// Alerts configures the alerts.
	Alerts transforms.AlertOptions
	// BigQuery, if set, is a table each window's firings are streamed into
	// (transforms.LiveSchema), created if missing.
	BigQuery *transforms.BigQueryOutput
	// Predictions writes every scored attempt to Output/predictions/.
	Predictions bool
}

// DefaultStreamOptions returns the options cmd/kmstream starts from.
func DefaultStreamOptions() StreamOptions {
	return StreamOptions{
		PubSub:  pubsublogs.ReadOptions{Subscription: "problemlogs-kmstream", MaxDelay: time.Minute},
		Columns: problemlogs.DefaultColumns, Model: "./out", Output: "./stream",
		Poll: time.Minute, Window: time.Hour, AllowedLateness: 10 * time.Minute,
		Alerts: transforms.AlertOptions{Drop: 0.1, MinAttempts: 100},
	}
}

// ModelSource returns the model the options score with.
func (o *StreamOptions) ModelSource() transforms.ModelSource {
	if o.Datastore != nil {
		return transforms.ModelSource{Datastore: o.Datastore, Version: o.Version}
	}
	return transforms.ModelSource{Dir: o.Model, Version: o.Version}
}

// Validate checks the options for mistakes a run would only find late.
func (o *StreamOptions) Validate() error {
	var errs []error
	if o.PubSub.Subscription == "" && strings.TrimSpace(o.Input) == "" {
		errs = append(errs, errors.New("no input: give a subscription or files"))
	}
	if o.PubSub.Subscription != "" && o.PubSub.Project == "" && !strings.HasPrefix(o.PubSub.Subscription, "projects/") {
		errs = append(errs, fmt.Errorf("subscription %s: no project", o.PubSub.Subscription))
	}
	if o.History != "" && o.HistoryBigQuery != nil {
		errs = append(errs, errors.New("history: give files or BigQuery, not both"))
	}
	if o.HistoryBigQuery != nil {
		if err := o.HistoryBigQuery.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("history: %v", err))
		}
	}
	if o.Datastore != nil && o.Model != "" {
		errs = append(errs, errors.New("give a model directory or Datastore, not both"))
	} else if err := o.ModelSource().Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Window < time.Millisecond || o.Window%time.Millisecond != 0 {
		// Beam's windows, and the pre-combined ones, are in milliseconds.
		errs = append(errs, fmt.Errorf("window %v: must be a positive whole number of milliseconds", o.Window))
	}
	if o.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("allowed lateness %v: must not be negative", o.AllowedLateness))
	}
	if strings.TrimSpace(o.Output) == "" {
		errs = append(errs, errors.New("no output directory"))
	}
	if o.BigQuery != nil {
		if err := o.BigQuery.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// source says what the stream reads, in words.
func (o *StreamOptions) source() string {
	if o.PubSub.Subscription != "" {
		return pubsublogs.SubscriptionName(o.PubSub.Project, o.PubSub.Subscription)
	}
	return o.Input
}

// BuildStream adds the streaming pipeline to s.
func BuildStream(s beam.Scope, o StreamOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	s = s.Scope("Stream")
	out := strings.TrimSuffix(o.Output, "/")
	var attempts beam.PCollection
	if o.PubSub.Subscription != "" {
		msgs := pubsublogs.Read(s, o.PubSub)
		var dead beam.PCollection
		attempts, dead = transforms.ParseMessages(s, msgs)
		transforms.WriteDeadLetters(s, dead, out+"/"+transforms.DeadLetterDir)
	} else {
		logs, _, _ := readSource(s.Scope("Input"), o.Input, nil, o.Columns, 0)
		attempts = transforms.AttemptsOf(s, logs)
	}
	if o.History != "" || o.HistoryBigQuery != nil {
		cols := o.Columns
		if bq := o.HistoryBigQuery; bq != nil && bq.Columns != (problemlogs.Columns{}) {
			cols = bq.Columns
		}
		logs, _, _ := readSource(s.Scope("History"), o.History, o.HistoryBigQuery, cols, 0)
		attempts = beam.Flatten(s, transforms.HistoryOf(s, logs), attempts)
	}
	src := o.ModelSource()
	scores := transforms.ScoreLive(s, attempts, transforms.LiveOptions{Model: src, Poll: o.Poll, Horizon: o.AllowedLateness})
	if o.Predictions {
		transforms.WritePredictions(s, scores, out+"/"+transforms.PredictionsDir)
	}
	windows := transforms.WatchWindows(s, scores, transforms.WindowOptions{Size: o.Window, AllowedLateness: o.AllowedLateness})
	transforms.WriteLive(s, windows, transforms.LiveOutput{Dir: out, Source: o.source(), Model: src, Alerts: o.Alerts, BigQuery: o.BigQuery})
	return nil
}
