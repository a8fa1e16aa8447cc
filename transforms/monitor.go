package transforms

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"google.golang.org/api/option"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/report"
	"github.com/kmtrain/knowledgemodel/store"
)

func init() {
	beam.RegisterType(reflect.TypeOf(monitor.Row{}))

	register.Function3x0(emitDayRows)
	register.DoFn4x1[context.Context, []byte, func(*monitor.Row) bool, func(*Stats) bool, error](&writeMonitorFn{})

	register.Emitter1[monitor.Row]()
	register.Iter1[monitor.Row]()
}

// ModelSource says which model version a monitoring run predicts with: a
// kmtrain output directory (local or any Beam filesystem, gs:// included),
// or a version in Datastore (the current one unless Version names one).
type ModelSource struct {
	Dir       string     `json:"dir,omitempty"`
	Datastore *Datastore `json:"datastore,omitempty"`
	// Version, with Datastore, is the version to load instead of the
	// current one.
	Version string `json:"version,omitempty"`
}

// Validate says whether m names exactly one model.
func (m ModelSource) Validate() error {
	switch {
	case m.Dir == "" && m.Datastore == nil:
		return errors.New("no model: give a directory or Datastore")
	case m.Dir != "" && m.Datastore != nil:
		return errors.New("give a model directory or Datastore, not both")
	case m.Datastore != nil && m.Datastore.Project == "":
		return errors.New("no Datastore project for the model")
	case m.Dir != "" && m.Version != "":
		return errors.New("a model version applies to Datastore; a directory holds one version")
	}
	return nil
}

// String names the model, for logs and the dashboard.
func (m ModelSource) String() string {
	switch {
	case m.Dir != "":
		return m.Dir
	case m.Datastore != nil && m.Version != "":
		return m.Datastore.String() + " version " + m.Version
	case m.Datastore != nil:
		return m.Datastore.String() + " (current version)"
	}
	return "no model"
}

// LoadModel loads the model m names: predict.FromRecords of LoadRecords.
func LoadModel(ctx context.Context, m ModelSource) (*predict.Model, error) {
	r, err := LoadRecords(ctx, m)
	if err != nil {
		return nil, err
	}
	pm, err := predict.FromRecords(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", m, err)
	}
	return pm, nil
}

// LoadRecords reads the records of the version m names. A directory is
// read through Beam's filesystems (so gs:// works on workers), as
// predict.LoadRecords reads a local one.
func LoadRecords(ctx context.Context, m ModelSource) (model.Records, error) {
	if err := m.Validate(); err != nil {
		return model.Records{}, err
	}
	if m.Datastore == nil {
		dir := strings.TrimSuffix(m.Dir, "/")
		r, err := predict.LoadRecords(opener(ctx), dir)
		if err != nil {
			return model.Records{}, fmt.Errorf("model %s: %v", dir, err)
		}
		return r, nil
	}
	st, err := store.Open(ctx, m.Datastore.Project, m.Datastore.Namespace)
	if err != nil {
		return model.Records{}, fmt.Errorf("%s: %v", m.Datastore, err)
	}
	defer st.Close()
	var r model.Records
	if m.Version != "" {
		r, err = st.Records(ctx, m.Version)
	} else {
		r, err = st.CurrentRecords(ctx)
	}
	if err != nil {
		return model.Records{}, fmt.Errorf("%s: %w", m, err)
	}
	return r, nil
}

// MergeDays merges the partial evaluations of each day (KV<day,
// EvalPartial>, from ScoreStudents with BucketDay) with MergeEvaluations
// and emits a monitor.Row per exercise and day: the scored exercises'
// metrics, and the exercises without thetas with their count.
func MergeDays(s beam.Scope, days beam.PCollection) beam.PCollection {
	s = s.Scope("MergeDays")
	return beam.ParDo(s, emitDayRows, MergeEvaluations(s, days))
}

// emitDayRows emits the rows of a day's merged evaluation.
func emitDayRows(day string, p EvalPartial, emit func(monitor.Row)) {
	acc := p.Acc
	if acc == nil {
		acc = evaluate.NewAccumulator()
	}
	for _, r := range monitor.DayRows(day, acc.Report()) {
		emit(r)
	}
}

// BigQueryOutput is a BigQuery table the monitoring rows are loaded into,
// and how to reach BigQuery.
type BigQueryOutput struct {
	// Table is "project.dataset.table"; it is created if needed and its
	// contents replaced by each run.
	Table string `json:"table"`
	// Project runs the load job (default: the table's project).
	Project string `json:"project,omitempty"`
	// Location of the load job (default: BigQuery's choice).
	Location string `json:"location,omitempty"`
	// Endpoint is the BigQuery REST endpoint (empty: Google's); Insecure
	// uses no credentials, for local fakes.
	Endpoint string `json:"endpoint,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
}

// Validate says whether the table name is well formed.
func (o BigQueryOutput) Validate() error {
	if _, err := bqsource.ParseTableID(o.Table); err != nil {
		return fmt.Errorf("bigquery output: %w", err)
	}
	return nil
}

// MonitorOutput says where a monitoring run writes and what it says about
// itself.
type MonitorOutput struct {
	// Dir receives monitor.CSVFile, monitor.DashboardFile and monitor.SummaryFile
	// (local or any Beam filesystem).
	Dir string
	// BigQuery, if set, is a table the rows are loaded into too.
	BigQuery *BigQueryOutput
	// RunID suffixes the staged files' temporary names.
	RunID   string
	Created time.Time
	// Input and Model describe the run's input and model, for the summary
	// and the dashboard.
	Input, Model string
}

// WriteMonitor writes the monitoring rows (monitor.Row, from MergeDays) once
// every stage is done: monitor.CSVFile, monitor.DashboardFile and
// monitor.SummaryFile into out.Dir, all or none, then, if out.BigQuery is
// set, the rows into that table. It writes nothing unless stats (of the
// reader and of ScoreStudents) say that every shard of the input was
// read, that the input held logs, that some attempt was scored, and that
// every bundle predicted with the same model version.
func WriteMonitor(s beam.Scope, out MonitorOutput, rows, stats beam.PCollection) {
	s = s.Scope("WriteMonitor")
	beam.ParDo0(s, &writeMonitorFn{Out: out}, beam.Impulse(s), beam.SideInput{Input: rows}, beam.SideInput{Input: stats})
}

type writeMonitorFn struct {
	Out MonitorOutput
}

func (fn *writeMonitorFn) ProcessElement(ctx context.Context, _ []byte, rowIter func(*monitor.Row) bool, statsIter func(*Stats) bool) error {
	var rows []monitor.Row
	var r monitor.Row
	for rowIter(&r) {
		rows = append(rows, r)
	}
	stats := gatherStats(statsIter)
	sum, scored, err := assembleMonitor(fn.Out, rows, stats)
	if err != nil {
		return fmt.Errorf("not writing the monitoring of %s: %v", fn.Out.Input, err)
	}
	var csvBuf, dash bytes.Buffer
	if err := monitor.WriteCSV(&csvBuf, scored); err != nil {
		return err
	}
	if err := report.WriteDashboard(&dash, monitor.Dashboard(sum, scored)); err != nil {
		return err
	}
	sumJSON, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if fn.Out.Dir != "" {
		dir := strings.TrimSuffix(fn.Out.Dir, "/")
		err := publishFiles(ctx, fn.Out.RunID, []stagedFile{
			{dir + "/" + monitor.CSVFile, csvBuf.Bytes()},
			{dir + "/" + monitor.DashboardFile, dash.Bytes()},
			{dir + "/" + monitor.SummaryFile, append(sumJSON, '\n')},
		})
		if err != nil {
			return err
		}
		log.Infof(ctx, "monitor: wrote %d rows (%d exercises, %d days) of version %s to %s",
			len(scored), sum.Exercises, sum.Days, sum.ModelVersion, dir)
	}
	if fn.Out.BigQuery != nil {
		if err := LoadMonitorBigQuery(ctx, *fn.Out.BigQuery, scored, sum.ModelVersion, fn.Out.Created); err != nil {
			return fmt.Errorf("bigquery output %s: %v", fn.Out.BigQuery.Table, err)
		}
		log.Infof(ctx, "monitor: loaded %d rows into %s", len(scored), fn.Out.BigQuery.Table)
	}
	return nil
}

// assembleMonitor checks the run and returns its summary and the scored
// rows, sorted by day and exercise (monitor.Assemble, on what stats
// counted).
func assembleMonitor(out MonitorOutput, rows []monitor.Row, stats Stats) (monitor.Summary, []monitor.Row, error) {
	if err := stats.Complete(); err != nil {
		return monitor.Summary{}, nil, err
	}
	c := stats.Counts
	sum := monitor.Summary{
		Model: out.Model, Input: out.Input, Created: out.Created,
		InputCounts: stats.inputCounts(),
		Students:    c[CountStudentsMonitored], AttemptsScored: c[CountAttemptsScored], AttemptsNoThetas: c[CountAttemptsNoThetas],
	}
	return monitor.Assemble(sum, stats.Examples[ExampleModelVersion], rows)
}

// MonitorSchema is the schema of the BigQuery table of monitoring rows.
var MonitorSchema = bigquery.Schema{
	{Name: "day", Type: bigquery.DateFieldType, Required: true, Description: "UTC day of time_done"},
	{Name: "exercise", Type: bigquery.StringFieldType, Required: true},
	{Name: "attempts", Type: bigquery.IntegerFieldType, Required: true, Description: "attempts scored"},
	{Name: "correct", Type: bigquery.IntegerFieldType, Required: true},
	{Name: "log_likelihood", Type: bigquery.FloatFieldType, Description: "mean natural-log likelihood per attempt"},
	{Name: "auc", Type: bigquery.FloatFieldType, Description: "NULL when the attempts are all correct or all wrong"},
	{Name: "accuracy", Type: bigquery.FloatFieldType, Description: "fraction predicted right at p >= 0.5"},
	{Name: "model_version", Type: bigquery.StringFieldType, Required: true},
	{Name: "created", Type: bigquery.TimestampFieldType, Required: true, Description: "when the monitoring run started"},
}

// LoadMonitorBigQuery loads rows into the table of out with one load job
// (newline-delimited JSON from memory, schema MonitorSchema), creating the
// table if needed and replacing its contents (WRITE_TRUNCATE): the table
// holds the latest run's window, as monitor.csv does, and a rerun or a
// retried bundle writes the same table. The job is atomic: readers see the
// previous run's rows or this one's, never a mix.
func LoadMonitorBigQuery(ctx context.Context, out BigQueryOutput, rows []monitor.Row, version string, created time.Time) error {
	id, err := bqsource.ParseTableID(out.Table)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rows {
		rec := struct {
			Day           string   `json:"day"`
			Exercise      string   `json:"exercise"`
			Attempts      int64    `json:"attempts"`
			Correct       int64    `json:"correct"`
			LogLikelihood *float64 `json:"log_likelihood"`
			AUC           *float64 `json:"auc"`
			Accuracy      *float64 `json:"accuracy"`
			ModelVersion  string   `json:"model_version"`
			Created       string   `json:"created"`
		}{r.Day, r.Exercise, r.Attempts, r.Correct, finiteOrNil(r.LogLikelihood), finiteOrNil(r.AUC), finiteOrNil(r.Accuracy),
			version, created.UTC().Format(time.RFC3339Nano)}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	client, err := out.client(ctx, id.Project)
	if err != nil {
		return err
	}
	defer client.Close()
	src := bigquery.NewReaderSource(&buf)
	src.SourceFormat = bigquery.JSON
	src.Schema = MonitorSchema
	loader := client.DatasetInProject(id.Project, id.Dataset).Table(id.Table).LoaderFrom(src)
	loader.CreateDisposition = bigquery.CreateIfNeeded
	loader.WriteDisposition = bigquery.WriteTruncate
	loader.Location = out.Location
	loader.Labels = map[string]string{"app": "kmmonitor"}
	job, err := loader.Run(ctx)
	if err != nil {
		return fmt.Errorf("starting the load job: %v", err)
	}
	status, err := job.Wait(ctx)
	if err != nil {
		return fmt.Errorf("load job %s: %v", job.ID(), err)
	}
	if err := status.Err(); err != nil {
		return fmt.Errorf("load job %s: %v", job.ID(), err)
	}
	return nil
}

// client returns a BigQuery client for out's jobs and requests: in
// out.Project, else tableProject, at out's endpoint.
func (out BigQueryOutput) client(ctx context.Context, tableProject string) (*bigquery.Client, error) {
	var opts []option.ClientOption
	if out.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(out.Endpoint))
	}
	if out.Insecure {
		opts = append(opts, option.WithoutAuthentication())
	}
	return bigquery.NewClient(ctx, cmp.Or(out.Project, tableProject), opts...)
}

func finiteOrNil(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return v
}
