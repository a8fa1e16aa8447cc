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
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/report"
	"github.com/kmtrain/knowledgemodel/score"
	"github.com/kmtrain/knowledgemodel/store"
)

func init() {
	beam.RegisterType(reflect.TypeOf(monitor.Row{}))

	register.DoFn5x1[context.Context, string, func(*LogBatch) bool, func(string, []byte), func(Stats), error](&predictAttemptsFn{})
	register.Combiner1[[]byte](&mergeAccumulatorsFn{})
	register.Function3x1(emitDayRows)
	register.DoFn4x1[context.Context, []byte, func(*monitor.Row) bool, func(*Stats) bool, error](&writeMonitorFn{})

	register.Emitter1[monitor.Row]()
	register.Emitter2[string, []byte]()
	register.Iter1[[]byte]()
	register.Iter1[monitor.Row]()
}

// Counts and examples of a monitoring run, besides those of the reader.
const (
	CountStudentsMonitored = "students_monitored" // students whose attempts were predicted
	CountAttemptsScored    = "attempts_scored"    // attempts on exercises the model has thetas for
	CountAttemptsNoThetas  = "attempts_no_thetas" // attempts on exercises without thetas: counted, not scored
	ExampleModelVersion    = "model_version"      // the version each predicting bundle used
)

// DefaultFlushAttempts is how many attempts a predicting bundle accumulates
// before it emits its per-day accumulators.
const DefaultFlushAttempts = 1 << 20

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

// LoadModel loads the model m names. A directory is read through Beam's
// filesystems (so gs:// works on workers): model.ThetasFile,
// model.ComponentsFile and, if present, model.SummaryFile, as
// predict.LoadDir reads a local one.
func LoadModel(ctx context.Context, m ModelSource) (*predict.Model, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.Datastore != nil {
		st, err := store.Open(ctx, m.Datastore.Project, m.Datastore.Namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.Datastore, err)
		}
		defer st.Close()
		var r model.Records
		if m.Version != "" {
			r, err = st.Records(ctx, m.Version)
		} else {
			r, err = st.CurrentRecords(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		pm, err := predict.FromRecords(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m, err)
		}
		return pm, nil
	}
	return loadModelDir(ctx, strings.TrimSuffix(m.Dir, "/"))
}

func loadModelDir(ctx context.Context, dir string) (*predict.Model, error) {
	m, err := predict.Load(opener(ctx), dir)
	if err != nil {
		return nil, fmt.Errorf("model %s: %v", dir, err)
	}
	return m, nil
}

// PredictAttempts groups logs (KV<StudentGroup, LogBatch>, as the readers
// emit them) per student and replays each student's history in time order
// (features.SortLogs) under the model: every attempt is predicted from the
// attempts before it, then applied. Students are replayed whole, gaps in
// problem numbers included, as the webapp predicts; a student's state starts
// empty at the first log of the input.
//
// Attempts are accumulated per UTC day of time_done in an
// evaluate.Accumulator (per exercise inside), per bundle, and leave as
// KV<day, encoded Accumulator>; attempts on exercises the model has no
// thetas for are counted there, not scored. MergeDays combines them. The
// Stats (second output) count students and attempts, and name the model
// version each bundle used. Each DoFn instance loads the model once, in
// Setup; its students share it (a predict.Model is immutable).
func PredictAttempts(s beam.Scope, logs beam.PCollection, src ModelSource) (days, stats beam.PCollection) {
	s = s.Scope("PredictAttempts")
	grouped := beam.GroupByKey(s, logs)
	return beam.ParDo2(s, &predictAttemptsFn{Source: src}, grouped)
}

type predictAttemptsFn struct {
	Source        ModelSource
	FlushAttempts int

	model    *predict.Model // immutable: shared by the bundle's students
	accs     map[string]*evaluate.Accumulator
	buffered int
	stats    Stats
	lastLog  time.Time
}

func (fn *predictAttemptsFn) Setup(ctx context.Context) error {
	m, err := LoadModel(ctx, fn.Source)
	if err != nil {
		return fmt.Errorf("loading the model: %v", err)
	}
	fn.model = m
	log.Infof(ctx, "monitor: predicting with version %s of %s (%d exercises)", m.Version, fn.Source, len(m.Thetas))
	return nil
}

func (fn *predictAttemptsFn) StartBundle(_ context.Context, _ func(string, []byte), _ func(Stats)) {
	fn.accs = map[string]*evaluate.Accumulator{}
	fn.buffered = 0
	fn.stats = Stats{}
	if fn.FlushAttempts <= 0 {
		fn.FlushAttempts = DefaultFlushAttempts
	}
}

func (fn *predictAttemptsFn) ProcessElement(ctx context.Context, _ string, batches func(*LogBatch) bool,
	emitDay func(string, []byte), _ func(Stats)) error {
	err := eachStudent(batches, func(user string, logs []features.ProblemLog) error {
		return fn.student(user, logs, emitDay)
	})
	if err != nil {
		return err
	}
	if time.Since(fn.lastLog) > 10*time.Second {
		fn.lastLog = time.Now()
		log.Infof(ctx, "monitor: %d students, %d attempts scored in this bundle so far",
			fn.stats.Counts[CountStudentsMonitored], fn.stats.Counts[CountAttemptsScored])
	}
	return nil
}

// student predicts one student's attempts.
func (fn *predictAttemptsFn) student(user string, logs []features.ProblemLog, emitDay func(string, []byte)) error {
	var acc *evaluate.Accumulator
	lastDay := ""
	var scored, noThetas int64
	err := score.Replay(score.NewStudent(fn.model), logs, time.Time{}, func(l features.ProblemLog, p []score.Prediction) error {
		day := l.TimeDone.UTC().Format(monitor.DayLayout)
		if day != lastDay || acc == nil {
			acc = fn.accs[day]
			if acc == nil {
				acc = evaluate.NewAccumulator()
				fn.accs[day] = acc
			}
			lastDay = day
		}
		if p[0].OK {
			scored++
		} else {
			noThetas++
		}
		return acc.Add(evaluate.Attempt{Exercise: l.Exercise, Correct: l.Correct, P: p[0].P, HasP: p[0].OK})
	})
	if err != nil {
		return fmt.Errorf("student %s: %v", user, err)
	}
	fn.stats.Add(CountStudentsMonitored, 1)
	fn.stats.Add(CountAttemptsScored, scored)
	fn.stats.Add(CountAttemptsNoThetas, noThetas)
	fn.buffered += len(logs)
	if fn.buffered >= fn.FlushAttempts {
		return fn.flush(emitDay)
	}
	return nil
}

func (fn *predictAttemptsFn) flush(emitDay func(string, []byte)) error {
	for day, acc := range fn.accs {
		b, err := acc.MarshalBinary()
		if err != nil {
			return err
		}
		emitDay(day, b)
	}
	clear(fn.accs)
	fn.buffered = 0
	return nil
}

func (fn *predictAttemptsFn) FinishBundle(ctx context.Context, emitDay func(string, []byte), emitStats func(Stats)) error {
	if err := fn.flush(emitDay); err != nil {
		return err
	}
	if !fn.stats.Empty() {
		fn.stats.Example(ExampleModelVersion, fn.model.Version)
		fn.stats.publish(ctx)
		emitStats(fn.stats)
	}
	fn.stats = Stats{}
	return nil
}

// MergeDays merges the partial accumulators of each day (KV<day, encoded
// evaluate.Accumulator>, from PredictAttempts) with a CombineFn, which the
// runner may apply before and after the shuffle, and emits a monitor.Row per
// exercise and day: the scored exercises' metrics, and the exercises without
// thetas with their count.
func MergeDays(s beam.Scope, days beam.PCollection) beam.PCollection {
	s = s.Scope("MergeDays")
	return beam.ParDo(s, emitDayRows, beam.CombinePerKey(s, &mergeAccumulatorsFn{}, days))
}

// mergeAccumulatorsFn merges encoded evaluate.Accumulators (a CombineFn);
// empty is an accumulator of nothing.
type mergeAccumulatorsFn struct{}

func (*mergeAccumulatorsFn) CreateAccumulator() []byte { return nil }

func (*mergeAccumulatorsFn) AddInput(a, b []byte) ([]byte, error) { return mergeEncoded(a, b) }

func (*mergeAccumulatorsFn) MergeAccumulators(a, b []byte) ([]byte, error) { return mergeEncoded(a, b) }

func (*mergeAccumulatorsFn) ExtractOutput(a []byte) []byte { return a }

func mergeEncoded(a, b []byte) ([]byte, error) {
	switch {
	case len(a) == 0:
		return b, nil
	case len(b) == 0:
		return a, nil
	}
	var x, y evaluate.Accumulator
	if err := x.UnmarshalBinary(a); err != nil {
		return nil, err
	}
	if err := y.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if err := x.Merge(&y); err != nil {
		return nil, err
	}
	return x.MarshalBinary()
}

// emitDayRows emits the rows of a day's merged accumulator.
func emitDayRows(day string, b []byte, emit func(monitor.Row)) error {
	acc := evaluate.NewAccumulator()
	if len(b) > 0 {
		if err := acc.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("day %s: %v", day, err)
		}
	}
	for _, r := range monitor.DayRows(day, acc.Report()) {
		emit(r)
	}
	return nil
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
// reader and of PredictAttempts) say that every shard of the input was
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
	var stats, st Stats
	for statsIter(&st) {
		stats.Merge(st)
	}
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
	var opts []option.ClientOption
	if out.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(out.Endpoint))
	}
	if out.Insecure {
		opts = append(opts, option.WithoutAuthentication())
	}
	client, err := bigquery.NewClient(ctx, cmp.Or(out.Project, id.Project), opts...)
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

func finiteOrNil(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return v
}
