package transforms

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"google.golang.org/api/googleapi"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/report"
)

// Files WriteLive keeps in LiveOutput.Dir.
const (
	// LiveWindowsDir holds one CSV per window and version,
	// <window start>_<version>.csv, in monitor.csv's columns.
	LiveWindowsDir = "windows"
	// LiveDashboardFile is the dashboard of the latest windows.
	LiveDashboardFile = "live.html"
	// LiveAlertsFile lists the alerts raised so far (JSON).
	LiveAlertsFile = "alerts.json"
)

// LiveOutput configures WriteLive.
type LiveOutput struct {
	// Dir receives the window files, the dashboard and the alerts (local or
	// gs://); each is replaced whole, never left half-written.
	Dir string
	// Keep is how many of the latest windows the dashboard shows (default
	// 48).
	Keep int
	// Source says what the stream reads, for the dashboard.
	Source string
	// Model is where the versions are, for their held-out log-likelihood.
	Model ModelSource
	// Alerts say when a window's exercise is worth an alert.
	Alerts AlertOptions
	// BigQuery, if set, is a table each firing's rows are also streamed
	// into (tabledata.insertAll, schema LiveSchema), created if missing.
	BigQuery *BigQueryOutput
}

// LiveSchema is the schema of the BigQuery table of live windows: a row per
// firing of a window, version and exercise. Panes accumulate: a window's
// result is its row with the highest pane.
var LiveSchema = bigquery.Schema{
	{Name: "window_start", Type: bigquery.TimestampFieldType, Required: true},
	{Name: "window_end", Type: bigquery.TimestampFieldType, Required: true},
	{Name: "exercise", Type: bigquery.StringFieldType, Required: true},
	{Name: "model_version", Type: bigquery.StringFieldType, Required: true},
	{Name: "attempts", Type: bigquery.IntegerFieldType, Required: true, Description: "attempts scored"},
	{Name: "correct", Type: bigquery.IntegerFieldType, Required: true},
	{Name: "log_likelihood", Type: bigquery.FloatFieldType, Description: "mean natural-log likelihood per attempt"},
	{Name: "auc", Type: bigquery.FloatFieldType, Description: "NULL when the attempts are all correct or all wrong"},
	{Name: "accuracy", Type: bigquery.FloatFieldType, Description: "fraction predicted right at p >= 0.5"},
	{Name: "pane", Type: bigquery.IntegerFieldType, Required: true, Description: "the firing, from 0; the highest is the window's result"},
	{Name: "late", Type: bigquery.BooleanFieldType, Required: true, Description: "a firing after the watermark passed the window's end"},
	{Name: "written", Type: bigquery.TimestampFieldType, Required: true},
}

// liveRow is a row of LiveSchema.
type liveRow struct {
	WindowStart   time.Time            `bigquery:"window_start"`
	WindowEnd     time.Time            `bigquery:"window_end"`
	Exercise      string               `bigquery:"exercise"`
	ModelVersion  string               `bigquery:"model_version"`
	Attempts      int64                `bigquery:"attempts"`
	Correct       int64                `bigquery:"correct"`
	LogLikelihood bigquery.NullFloat64 `bigquery:"log_likelihood"`
	AUC           bigquery.NullFloat64 `bigquery:"auc"`
	Accuracy      bigquery.NullFloat64 `bigquery:"accuracy"`
	Pane          int64                `bigquery:"pane"`
	Late          bool                 `bigquery:"late"`
	Written       time.Time            `bigquery:"written"`
}

func nullFloat(v *float64) bigquery.NullFloat64 {
	if f := finiteOrNil(v); f != nil {
		return bigquery.NullFloat64{Float64: *f, Valid: true}
	}
	return bigquery.NullFloat64{}
}

// AlertOptions configures the alerts of WriteLive.
type AlertOptions struct {
	// Drop is how far (nats per attempt) a window's mean log-likelihood of
	// an exercise may fall below the version's held-out one before an
	// alert (0: no alerts).
	Drop float64
	// MinAttempts is how many attempts the window must hold on the
	// exercise for its log-likelihood to mean something.
	MinAttempts int64
	// Topic, if set, is a Pub/Sub topic (projects/P/topics/T) each alert is
	// published to, as JSON.
	Topic string
}

// Alert is an exercise whose window fell below its held-out log-likelihood.
type Alert struct {
	Window        string  `json:"window"`
	Version       string  `json:"version"`
	Exercise      string  `json:"exercise"`
	Attempts      int64   `json:"attempts"`
	LogLikelihood float64 `json:"log_likelihood"`
	HeldOut       float64 `json:"held_out_log_likelihood"`
	Raised        string  `json:"raised"`
}

var liveAlerts = beam.NewCounter("kmtrain", "live_alerts")

// WriteLive writes each firing of each window (from WatchWindows): the
// window's CSV, the dashboard of the latest windows (regenerated once per
// bundle of firings) and the alerts. The firings meet at one key in the global
// window, where Beam state keeps the latest windows.
func WriteLive(s beam.Scope, windows beam.PCollection, out LiveOutput) {
	s = s.Scope("WriteLive")
	global := beam.WindowInto(s, window.NewGlobalWindows(), windows)
	keyed := beam.AddFixedKey(s, global)
	beam.ParDo0(s, &writeLiveFn{Out: out, Latest: state.MakeValueState[[]byte]("latest")}, keyed)
}

// liveState is what writeLiveFn keeps: the latest firing of the latest
// windows, and the alerts raised on them.
type liveState struct {
	Windows []LiveWindow
	Alerts  []Alert
}

// trim keeps the latest keep windows (st.Windows is in time order) and the
// alerts of windows no older than them, and reports whether it dropped an
// alert. The alerts must go too, or the state would grow for as long as
// the stream runs: one of an older window is never looked up again (its
// window is far past its lateness), and it was logged and published when
// raised.
func (st *liveState) trim(keep int) (droppedAlerts bool) {
	if len(st.Windows) <= keep {
		return false
	}
	st.Windows = st.Windows[len(st.Windows)-keep:]
	oldest := windowLabel(time.UnixMilli(st.Windows[0].Start), time.UnixMilli(st.Windows[0].End))
	n := len(st.Alerts)
	st.Alerts = slices.DeleteFunc(st.Alerts, func(a Alert) bool { return a.Window < oldest })
	return len(st.Alerts) < n
}

type writeLiveFn struct {
	Out    LiveOutput
	Latest state.Value[[]byte] // liveState, JSON

	heldOut  map[string]map[string]float64 // by version
	latest   *liveState                    // of this bundle's last firing: the dashboard's data
	topic    *pubsub.Publisher
	client   *pubsub.Client
	bq       *bigquery.Client
	inserter *bigquery.Inserter
}

func (fn *writeLiveFn) Setup(ctx context.Context) error {
	fn.heldOut = map[string]map[string]float64{}
	if t := fn.Out.Alerts.Topic; t != "" {
		project := strings.Split(t, "/")
		if len(project) != 4 || project[0] != "projects" || project[2] != "topics" {
			return fmt.Errorf("alert topic %q: want projects/P/topics/T", t)
		}
		c, err := pubsub.NewClient(ctx, project[1])
		if err != nil {
			return fmt.Errorf("alert topic %s: %v", t, err)
		}
		fn.client, fn.topic = c, c.Publisher(t)
	}
	if out := fn.Out.BigQuery; out != nil {
		c, table, err := liveTable(ctx, *out)
		if err != nil {
			return fmt.Errorf("live BigQuery table %s: %v", out.Table, err)
		}
		fn.bq, fn.inserter = c, table.Inserter()
	}
	return nil
}

// liveTable returns a client and the table of out, created with LiveSchema
// if it does not exist.
func liveTable(ctx context.Context, out BigQueryOutput) (*bigquery.Client, *bigquery.Table, error) {
	id, err := bqsource.ParseTableID(out.Table)
	if err != nil {
		return nil, nil, err
	}
	c, err := out.client(ctx, id.Project)
	if err != nil {
		return nil, nil, err
	}
	table := c.DatasetInProject(id.Project, id.Dataset).Table(id.Table)
	if _, err := table.Metadata(ctx); err != nil {
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != http.StatusNotFound {
			c.Close()
			return nil, nil, err
		}
		err := table.Create(ctx, &bigquery.TableMetadata{Schema: LiveSchema, Labels: map[string]string{"app": "kmstream"}})
		if err != nil && !(errors.As(err, &ge) && ge.Code == http.StatusConflict) {
			c.Close()
			return nil, nil, fmt.Errorf("creating it: %v", err)
		}
	}
	return c, table, nil
}

// insertLive streams the rows of firing w into the BigQuery table. The
// insert ids make a retried bundle's rows count once (best effort, as
// BigQuery de-duplicates).
func (fn *writeLiveFn) insertLive(ctx context.Context, w LiveWindow) error {
	written := time.Now().UTC()
	savers := make([]*bigquery.StructSaver, 0, len(w.Rows))
	for _, r := range w.Rows {
		row := liveRow{WindowStart: time.UnixMilli(w.Start).UTC(), WindowEnd: time.UnixMilli(w.End).UTC(),
			Exercise: r.Exercise, ModelVersion: w.Version, Attempts: r.Attempts, Correct: r.Correct,
			LogLikelihood: nullFloat(r.LogLikelihood), AUC: nullFloat(r.AUC), Accuracy: nullFloat(r.Accuracy),
			Pane: w.Pane, Late: w.Late, Written: written}
		savers = append(savers, &bigquery.StructSaver{Struct: row, Schema: LiveSchema,
			InsertID: fmt.Sprintf("%d/%s/%s/%d", w.Start, w.Version, r.Exercise, r.Attempts+r.NoThetas)})
	}
	if len(savers) == 0 {
		return nil
	}
	if err := fn.inserter.Put(ctx, savers); err != nil {
		return fmt.Errorf("streaming window %d's rows into %s: %v", w.Start, fn.Out.BigQuery.Table, err)
	}
	return nil
}

func (fn *writeLiveFn) Teardown() {
	if fn.topic != nil {
		fn.topic.Stop()
		fn.client.Close()
	}
	if fn.bq != nil {
		fn.bq.Close()
	}
}

func (fn *writeLiveFn) StartBundle() { fn.latest = nil }

func (fn *writeLiveFn) ProcessElement(ctx context.Context, sp state.Provider, _ int, w LiveWindow) error {
	var st liveState
	if b, ok, err := fn.Latest.Read(sp); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("live output state: %v", err)
		}
	}
	i := slices.IndexFunc(st.Windows, func(o LiveWindow) bool { return o.Start == w.Start && o.Version == w.Version })
	if i >= 0 && attempts(st.Windows[i]) > attempts(w) {
		return nil // an earlier firing, delivered late: accumulating panes only grow
	}
	if i >= 0 {
		st.Windows[i] = w
	} else {
		st.Windows = append(st.Windows, w)
	}
	slices.SortFunc(st.Windows, func(a, b LiveWindow) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), strings.Compare(a.Version, b.Version))
	})
	dropped := st.trim(cmp.Or(fn.Out.Keep, 48))
	raised := false
	if len(st.Windows) > 0 && w.Start >= st.Windows[0].Start { // not a late firing of a window no longer kept
		raised = fn.alerts(ctx, w, &st)
	}

	dir := strings.TrimSuffix(fn.Out.Dir, "/")
	var csvBuf bytes.Buffer
	if err := monitor.WriteCSV(&csvBuf, w.Rows); err != nil {
		return err
	}
	label := time.UnixMilli(w.Start).UTC().Format("20060102T150405Z")
	files := []stagedFile{{fmt.Sprintf("%s/%s/%s_%s.csv", dir, LiveWindowsDir, label, w.Version), csvBuf.Bytes()}}
	if raised || dropped || len(st.Alerts) == 0 {
		j, err := json.MarshalIndent(st.Alerts, "", "  ")
		if err != nil {
			return err
		}
		if st.Alerts == nil {
			j = []byte("[]")
		}
		files = append(files, stagedFile{dir + "/" + LiveAlertsFile, append(j, '\n')})
	}
	for _, f := range files {
		if err := publishFiles(ctx, label, []stagedFile{f}); err != nil {
			return err
		}
	}
	if fn.inserter != nil {
		if err := fn.insertLive(ctx, w); err != nil {
			return err
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	fn.latest = &st
	return fn.Latest.Write(sp, b)
}

// FinishBundle regenerates the dashboard from the bundle's last firing:
// rendering it is the sink's costliest step, and a replay fires many
// windows in one bundle.
func (fn *writeLiveFn) FinishBundle(ctx context.Context) error {
	if fn.latest == nil {
		return nil
	}
	var dash bytes.Buffer
	if err := report.WriteDashboard(&dash, fn.dashboard(*fn.latest)); err != nil {
		return err
	}
	fn.latest = nil
	return publishFiles(ctx, "dashboard", []stagedFile{{strings.TrimSuffix(fn.Out.Dir, "/") + "/" + LiveDashboardFile, dash.Bytes()}})
}

func attempts(w LiveWindow) int64 {
	var n int64
	for _, r := range w.Rows {
		n += r.Attempts
	}
	return n
}

// alerts raises an alert, once, for each exercise of w below its held-out
// log-likelihood by more than the threshold, and reports whether it did.
func (fn *writeLiveFn) alerts(ctx context.Context, w LiveWindow, st *liveState) bool {
	a := fn.Out.Alerts
	if a.Drop <= 0 {
		return false
	}
	held := fn.heldOutOf(ctx, w.Version)
	label := ""
	raised := false
	for _, r := range w.Rows {
		h, ok := held[r.Exercise]
		if !ok || r.LogLikelihood == nil || r.Attempts < a.MinAttempts || *r.LogLikelihood >= h-a.Drop {
			continue
		}
		label = r.Day
		if slices.ContainsFunc(st.Alerts, func(o Alert) bool {
			return o.Window == label && o.Version == w.Version && o.Exercise == r.Exercise
		}) {
			continue
		}
		al := Alert{Window: label, Version: w.Version, Exercise: r.Exercise, Attempts: r.Attempts,
			LogLikelihood: *r.LogLikelihood, HeldOut: h, Raised: time.Now().UTC().Format(time.RFC3339)}
		st.Alerts = append(st.Alerts, al)
		raised = true
		liveAlerts.Inc(ctx, 1)
		log.Warnf(ctx, "ALERT: exercise %s, window %s, version %s: log-likelihood %.4f over %d attempts, %.4f below its held-out %.4f",
			r.Exercise, label, w.Version, *r.LogLikelihood, r.Attempts, h-*r.LogLikelihood, h)
		if fn.topic != nil {
			j, _ := json.Marshal(al)
			if _, err := fn.topic.Publish(ctx, &pubsub.Message{Data: j}).Get(ctx); err != nil {
				log.Errorf(ctx, "publishing the alert to %s: %v", a.Topic, err)
			}
		}
	}
	return raised
}

// heldOutOf returns a version's held-out log-likelihood per exercise,
// loaded once; nil where the version cannot be read or held nothing out.
func (fn *writeLiveFn) heldOutOf(ctx context.Context, version string) map[string]float64 {
	if h, ok := fn.heldOut[version]; ok {
		return h
	}
	src := fn.Out.Model
	if src.Datastore != nil {
		src.Version = version
	}
	r, err := LoadRecords(ctx, src)
	switch {
	case err != nil:
		log.Warnf(ctx, "no alerts for version %s: %v", version, err)
	case r.Version != version:
		log.Warnf(ctx, "no alerts for version %s: %s now holds version %s", version, src, r.Version)
	case r.HeldOut == nil:
		log.Warnf(ctx, "no alerts for version %s: its training run held nothing out", version)
	}
	var h map[string]float64
	if err == nil && r.Version == version {
		h = r.HeldOut
	}
	fn.heldOut[version] = h
	return h
}

// dashboard is the monitoring dashboard over the latest windows: a point
// per window and exercise.
func (fn *writeLiveFn) dashboard(st liveState) report.Dashboard {
	var rows []monitor.Row
	versions := map[string]bool{}
	for _, w := range st.Windows {
		rows = append(rows, w.Rows...)
		versions[w.Version] = true
	}
	slices.SortStableFunc(rows, func(a, b monitor.Row) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Exercise, b.Exercise))
	})
	vs := make([]string, 0, len(versions))
	for v := range versions {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	d := monitor.Dashboard(monitor.Summary{ModelVersion: strings.Join(vs, ", "), Model: fn.Out.Model.String(),
		Input: fn.Out.Source, Created: time.Now()}, rows)
	d.Title = "Knowledge model, live"
	if len(st.Windows) > 0 {
		d.Period = time.Duration(st.Windows[0].End-st.Windows[0].Start) * time.Millisecond
	}
	return d
}

// DeadLetterDir is the directory of LiveOutput.Dir that WriteDeadLetters
// writes to.
const DeadLetterDir = "deadletters"

// WriteDeadLetters writes the dead letters of each bundle to a file of its
// own in dir (dir/<time>-<n>.jsonl, one JSON object per message: id, data,
// reason), written whole under a temporary name, then renamed.
func WriteDeadLetters(s beam.Scope, dead beam.PCollection, dir string) {
	s = s.Scope("WriteDeadLetters")
	beam.ParDo0(s, &writeDeadFn{Dir: dir}, dead)
}

type writeDeadFn struct {
	Dir string

	out bundleFile
}

func (fn *writeDeadFn) StartBundle() { fn.out.reset() }

func (fn *writeDeadFn) ProcessElement(d DeadLetter) error {
	j, err := json.Marshal(struct {
		ID     string `json:"id"`
		Data   string `json:"data"`
		Reason string `json:"reason"`
	}{d.ID, string(d.Data), d.Reason})
	if err != nil {
		return err
	}
	fn.out.buf.Write(j)
	fn.out.buf.WriteByte('\n')
	fn.out.n++
	return nil
}

func (fn *writeDeadFn) FinishBundle(ctx context.Context) error {
	name, err := fn.out.write(ctx, fn.Dir, "jsonl")
	if err != nil || name == "" {
		return err
	}
	log.Warnf(ctx, "wrote %d malformed messages to %s", fn.out.n, name)
	return nil
}

// bundleFile is what a bundle writes to a file of its own: the lines and
// how many there are, and how many files the DoFn instance wrote.
type bundleFile struct {
	buf   bytes.Buffer
	n     int
	files int
}

func (f *bundleFile) reset() { f.buf.Reset(); f.n = 0 }

// write writes the bundle's lines, if any, to dir/<time>-<file>-<lines>.ext,
// whole under a temporary name, then renamed, and returns the name.
func (f *bundleFile) write(ctx context.Context, dir, ext string) (string, error) {
	if f.n == 0 {
		return "", nil
	}
	f.files++
	name := fmt.Sprintf("%s/%s-%d-%d.%s", strings.TrimSuffix(dir, "/"),
		time.Now().UTC().Format("20060102T150405.000000000Z"), f.files, f.n, ext)
	if err := publishFiles(ctx, ext, []stagedFile{{name, slices.Clone(f.buf.Bytes())}}); err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	return name, nil
}

// PredictionsDir is the directory of LiveOutput.Dir that WritePredictions
// writes to.
const PredictionsDir = "predictions"

// WritePredictions writes every scored attempt (KV<version, LiveScore>, from
// ScoreLive), each bundle's to a CSV file of its own in dir
// (dir/<time>-<n>.csv: user, exercise, time_done, correct, p, model_version;
// p empty without thetas), written whole under a temporary name, then
// renamed.
func WritePredictions(s beam.Scope, scores beam.PCollection, dir string) {
	s = s.Scope("WritePredictions")
	beam.ParDo0(s, &writePredictionsFn{Dir: dir}, scores)
}

type writePredictionsFn struct {
	Dir string

	out bundleFile
}

func (fn *writePredictionsFn) StartBundle() { fn.out.reset() }

func (fn *writePredictionsFn) ProcessElement(version string, sc LiveScore) {
	if fn.out.n == 0 {
		fn.out.buf.WriteString("user,exercise,time_done,correct,p,model_version\n")
	}
	p := ""
	if sc.HasP {
		p = strconv.FormatFloat(sc.P, 'g', -1, 64)
	}
	fmt.Fprintf(&fn.out.buf, "%s,%s,%s,%t,%s,%s\n", csvField(sc.User), csvField(sc.Exercise),
		time.UnixMilli(sc.TimeDone).UTC().Format(time.RFC3339Nano), sc.Correct, p, csvField(version))
	fn.out.n++
}

func (fn *writePredictionsFn) FinishBundle(ctx context.Context) error {
	_, err := fn.out.write(ctx, fn.Dir, "csv")
	return err
}
