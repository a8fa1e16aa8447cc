package pipeline

// The story of a monitoring run (BuildMonitor, cmd/kmmonitor): how well
// does a model version predict the attempts of a window, per exercise and
// day?
//
//  1. ReadProblemLogs or ReadBigQuery reads the window's ProblemLogs, as a
//     training run does, counting bad rows and batching the logs per
//     student.
//  2. GroupStudents groups them per student, and ScoreStudents replays each
//     student's history in time order under the model (a kmtrain output
//     directory or a version in Datastore, loaded once per DoFn instance):
//     every attempt is predicted from the attempts before it, then applied.
//     Attempts on exercises without thetas are counted, not scored. Each
//     bundle accumulates the predictions per UTC day (BucketDay) and emits
//     a partial evaluation per day.
//  3. MergeDays merges each day's partials (a CombineFn) and computes, per
//     exercise, the attempts, the mean log-likelihood, the exact AUC and
//     the accuracy.
//  4. WriteMonitor writes monitor.csv, dashboard.html (the exercises whose
//     log-likelihood dropped most, and each one's log-likelihood and
//     attempts per day) and monitor_summary.json, all at once and only if
//     the whole input was read, then loads the rows into a BigQuery table
//     if asked to.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// MonitorOptions configures a monitoring run.
type MonitorOptions struct {
	// Input is comma-separated glob patterns of ProblemLog files.
	Input string
	// BigQuery, if set, is where the ProblemLogs are read instead of Input.
	BigQuery *bqsource.Config
	// Columns maps the ProblemLog fields to the input's column names.
	Columns problemlogs.Columns
	// ShardBytes is the size of the byte ranges large local files are read
	// in (0: the default).
	ShardBytes int64

	// Model is a kmtrain output directory (local or gs://) holding the
	// version to monitor.
	Model string
	// Datastore, instead of Model, loads the version from Datastore: the
	// current one, or Version.
	Datastore *transforms.Datastore
	// Version, with Datastore, is the version to monitor instead of the
	// current one.
	Version string

	// Output is the directory monitor.csv, dashboard.html and
	// monitor_summary.json are written to; empty writes no files (then
	// BQOutput must be set).
	Output string
	// BQOutput, if set, is a BigQuery table the rows are loaded into too,
	// replacing its contents.
	BQOutput *transforms.BigQueryOutput

	// RunID names the run (staged files, the model cache); empty: the start
	// time and a random suffix.
	RunID string
}

// DefaultMonitorOptions returns the options cmd/kmmonitor starts from.
func DefaultMonitorOptions() MonitorOptions {
	return MonitorOptions{Columns: problemlogs.DefaultColumns, Model: "./out", Output: "./monitor"}
}

// ModelSource returns the model the options monitor.
func (o *MonitorOptions) ModelSource() transforms.ModelSource {
	if o.Datastore != nil {
		return transforms.ModelSource{Datastore: o.Datastore, Version: o.Version}
	}
	return transforms.ModelSource{Dir: o.Model, Version: o.Version}
}

// Validate checks the options for mistakes a run would only find late.
func (o *MonitorOptions) Validate() error {
	var errs []error
	if o.BigQuery != nil {
		if err := o.BigQuery.Validate(); err != nil {
			errs = append(errs, err)
		}
	} else if strings.TrimSpace(o.Input) == "" {
		errs = append(errs, errors.New("no input"))
	}
	if o.Datastore != nil && o.Model != "" {
		errs = append(errs, errors.New("give a model directory or Datastore, not both"))
	} else if err := o.ModelSource().Validate(); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(o.Output) == "" && o.BQOutput == nil {
		errs = append(errs, errors.New("no output: give a directory, a BigQuery table or both"))
	}
	if o.BQOutput != nil {
		if err := o.BQOutput.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NewRunID returns a run id for a monitoring run started at t.
func NewRunID(t time.Time) string {
	return fmt.Sprintf("%s-%08x", NewVersion(t), rand.Uint32())
}

// BuildMonitor adds the monitoring pipeline to s.
func BuildMonitor(s beam.Scope, o MonitorOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	created := time.Now().UTC()
	if o.RunID == "" {
		o.RunID = NewRunID(created)
	}
	s = s.Scope("Monitor")
	logs, readStats, input := readSource(s, o.Input, o.BigQuery, o.Columns, o.ShardBytes)
	src := o.ModelSource()
	students := transforms.GroupStudents(s, logs)
	sc := transforms.ScoreStudents(s, students, transforms.ScoringModel{Source: src},
		transforms.ScoreOptions{Bucket: transforms.BucketDay})
	rows := transforms.MergeDays(s, sc.Partials)
	transforms.WriteMonitor(s, transforms.MonitorOutput{
		Dir: o.Output, BigQuery: o.BQOutput, RunID: o.RunID, Created: created,
		Input: input, Model: src.String(),
	}, rows, beam.Flatten(s, readStats, sc.Stats))
	return nil
}
