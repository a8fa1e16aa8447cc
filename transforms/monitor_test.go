package transforms

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/monitor"
)

// loadFake is a minimal BigQuery REST server for load jobs with media
// upload, which bqfake does not serve: jobs.insert through
// /upload/bigquery/v2/projects/P/jobs?uploadType=multipart (a JSON job and
// the data), then jobs.get, which reports the job done (with Fail as its
// error, if set) on the first poll.
type loadFake struct {
	t    *testing.T
	srv  *httptest.Server
	Fail string

	mu   sync.Mutex
	jobs map[string]*bq.Job
	data map[string][]byte // the uploaded media per job id
	gets int
}

func newLoadFake(t *testing.T) *loadFake {
	f := &loadFake{t: t, jobs: map[string]*bq.Job{}, data: map[string][]byte{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

var (
	uploadRE = regexp.MustCompile(`^/upload/bigquery/v2/projects/([^/]+)/jobs$`)
	getJobRE = regexp.MustCompile(`^(?:/bigquery/v2)?/projects/([^/]+)/jobs/([^/]+)$`)
)

func (f *loadFake) fail(w http.ResponseWriter, code int, msg string) {
	f.t.Errorf("bigquery fake: %s", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (f *loadFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && uploadRE.MatchString(r.URL.Path):
		if r.URL.Query().Get("uploadType") != "multipart" {
			f.fail(w, http.StatusBadRequest, "uploadType "+r.URL.Query().Get("uploadType")+", this fake serves multipart only")
			return
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || !strings.HasPrefix(mt, "multipart/") {
			f.fail(w, http.StatusBadRequest, "not multipart: "+r.Header.Get("Content-Type"))
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var parts [][]byte
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.fail(w, http.StatusBadRequest, err.Error())
				return
			}
			b, _ := io.ReadAll(p)
			parts = append(parts, b)
		}
		var job bq.Job
		if len(parts) != 2 || json.Unmarshal(parts[0], &job) != nil || job.JobReference == nil || job.JobReference.JobId == "" {
			f.fail(w, http.StatusBadRequest, "want a job with an id and the data")
			return
		}
		job.JobReference.ProjectId = uploadRE.FindStringSubmatch(r.URL.Path)[1]
		job.Status = &bq.JobStatus{State: "RUNNING"}
		f.mu.Lock()
		f.jobs[job.JobReference.JobId] = &job
		f.data[job.JobReference.JobId] = parts[1]
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&job)
	case r.Method == http.MethodGet && getJobRE.MatchString(r.URL.Path):
		id := getJobRE.FindStringSubmatch(r.URL.Path)[2]
		f.mu.Lock()
		job := f.jobs[id]
		f.gets++
		if job != nil {
			job.Status = &bq.JobStatus{State: "DONE"}
			if f.Fail != "" {
				job.Status.ErrorResult = &bq.ErrorProto{Reason: "invalid", Message: f.Fail}
			}
		}
		f.mu.Unlock()
		if job == nil {
			f.fail(w, http.StatusNotFound, "no job "+id)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(job)
	default:
		f.fail(w, http.StatusNotFound, "unexpected "+r.Method+" "+r.URL.String())
	}
}

// only returns the one job loaded and its data.
func (f *loadFake) only(t *testing.T) (*bq.Job, []map[string]any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.jobs) != 1 {
		t.Fatalf("%d jobs, want 1", len(f.jobs))
	}
	for id, job := range f.jobs {
		var rows []map[string]any
		sc := bufio.NewScanner(strings.NewReader(string(f.data[id])))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			rows = append(rows, m)
		}
		return job, rows
	}
	return nil, nil
}

func (f *loadFake) output(table string) BigQueryOutput {
	return BigQueryOutput{Table: table, Project: "billing", Location: "EU", Endpoint: f.srv.URL + "/", Insecure: true}
}

func fptr(v float64) *float64 { return &v }

func monitorRows() []monitor.Row {
	return []monitor.Row{
		{Day: "2014-01-01", Exercise: "a", Attempts: 3, Correct: 2, LogLikelihood: fptr(-0.5), AUC: fptr(0.75), Accuracy: fptr(2.0 / 3)},
		{Day: "2014-01-01", Exercise: "b", Attempts: 2, Correct: 2, LogLikelihood: fptr(-0.25), AUC: nil, Accuracy: fptr(1)},
		{Day: "2014-01-02", Exercise: "a", Attempts: 1, Correct: 0, LogLikelihood: fptr(-1.5), AUC: nil, Accuracy: fptr(0)},
	}
}

// TestLoadMonitorBigQuery checks the load job: its destination, dispositions,
// format, schema and rows, and that a failed job is an error.
func TestLoadMonitorBigQuery(t *testing.T) {
	f := newLoadFake(t)
	created := time.Date(2014, 2, 1, 3, 4, 5, 0, time.UTC)
	if err := LoadMonitorBigQuery(context.Background(), f.output("proj.mon.daily"), monitorRows(), "v7", created); err != nil {
		t.Fatal(err)
	}
	job, rows := f.only(t)
	l := job.Configuration.Load
	if job.JobReference.ProjectId != "billing" || job.JobReference.Location != "EU" {
		t.Errorf("job in %s/%s, want billing/EU", job.JobReference.ProjectId, job.JobReference.Location)
	}
	if l == nil || l.DestinationTable == nil || l.DestinationTable.ProjectId != "proj" || l.DestinationTable.DatasetId != "mon" ||
		l.DestinationTable.TableId != "daily" {
		t.Fatalf("load configuration %+v, want destination proj.mon.daily", l)
	}
	if l.WriteDisposition != "WRITE_TRUNCATE" || l.CreateDisposition != "CREATE_IF_NEEDED" || l.SourceFormat != "NEWLINE_DELIMITED_JSON" {
		t.Errorf("write %q create %q format %q", l.WriteDisposition, l.CreateDisposition, l.SourceFormat)
	}
	var names []string
	for _, fs := range l.Schema.Fields {
		names = append(names, fs.Name+":"+fs.Type+":"+fs.Mode)
	}
	if got := strings.Join(names, " "); got != "day:DATE:REQUIRED exercise:STRING:REQUIRED attempts:INTEGER:REQUIRED correct:INTEGER:REQUIRED "+
		"log_likelihood:FLOAT: auc:FLOAT: accuracy:FLOAT: model_version:STRING:REQUIRED created:TIMESTAMP:REQUIRED" {
		t.Errorf("schema %s", got)
	}
	want := []map[string]any{
		{"day": "2014-01-01", "exercise": "a", "attempts": 3.0, "correct": 2.0, "log_likelihood": -0.5, "auc": 0.75, "accuracy": 2.0 / 3, "model_version": "v7", "created": "2014-02-01T03:04:05Z"},
		{"day": "2014-01-01", "exercise": "b", "attempts": 2.0, "correct": 2.0, "log_likelihood": -0.25, "auc": nil, "accuracy": 1.0, "model_version": "v7", "created": "2014-02-01T03:04:05Z"},
		{"day": "2014-01-02", "exercise": "a", "attempts": 1.0, "correct": 0.0, "log_likelihood": -1.5, "auc": nil, "accuracy": 0.0, "model_version": "v7", "created": "2014-02-01T03:04:05Z"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n%v\nwant\n%v", rows, want)
	}
	if f.gets == 0 {
		t.Error("the job was not waited for")
	}

	f2 := newLoadFake(t)
	f2.Fail = "schema mismatch"
	err := LoadMonitorBigQuery(context.Background(), f2.output("proj.mon.daily"), monitorRows(), "v7", created)
	if err == nil || !strings.Contains(err.Error(), "schema mismatch") {
		t.Errorf("failed job: %v, want its error", err)
	}
}

// completeStats is the Stats of a run that read its one shard and scored
// the attempts of monitorRows with version v7.
func completeStats() Stats {
	var st Stats
	st.Add(CountShards, 1)
	st.Add(CountShardsRead, 1)
	st.Add(CountFiles, 1)
	st.Add(CountLogs, 10)
	st.Add(CountStudentsMonitored, 2)
	st.Add(CountAttemptsScored, 6)
	st.Add(CountAttemptsNoThetas, 4)
	st.Example(ExampleModelVersion, "v7")
	return st
}

// TestWriteMonitor runs the sink's DoFn: it writes the three files and
// loads the table, or, when the run is not whole, writes nothing.
func TestWriteMonitor(t *testing.T) {
	rows := append(monitorRows(), monitor.Row{Day: "2014-01-02", Exercise: "z", NoThetas: 4})
	t.Run("writes", func(t *testing.T) {
		f := newLoadFake(t)
		dir := filepath.Join(t.TempDir(), "out")
		os.MkdirAll(dir, 0o755)
		out := f.output("proj.mon.daily")
		fn := &writeMonitorFn{Out: MonitorOutput{Dir: dir, BigQuery: &out, RunID: "r1", Created: time.Unix(0, 0), Input: "logs.csv", Model: "model/"}}
		// Rows arrive in any order.
		shuffled := []monitor.Row{rows[3], rows[2], rows[0], rows[1]}
		if err := fn.ProcessElement(context.Background(), nil, testutil.Iter(shuffled...), testutil.Iter(completeStats())); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, monitor.CSVFile))
		if err != nil {
			t.Fatal(err)
		}
		want := "day,exercise,attempts,correct,log_likelihood,auc,accuracy\n" +
			"2014-01-01,a,3,2,-0.5,0.75,0.6666666666666666\n" +
			"2014-01-01,b,2,2,-0.25,,1\n" +
			"2014-01-02,a,1,0,-1.5,,0\n"
		if string(b) != want {
			t.Errorf("monitor.csv:\n%s\nwant\n%s", b, want)
		}
		var sum monitor.Summary
		b, _ = os.ReadFile(filepath.Join(dir, monitor.SummaryFile))
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		if sum.ModelVersion != "v7" || sum.AttemptsScored != 6 || sum.AttemptsNoThetas != 4 ||
			!reflect.DeepEqual(sum.NoThetasExercises, []evaluate.ExerciseCount{{Exercise: "z", Attempts: 4}}) ||
			sum.Exercises != 2 || sum.Days != 2 || sum.First != "2014-01-01" || sum.Last != "2014-01-02" || sum.Rows != 3 {
			t.Errorf("summary %+v", sum)
		}
		page, _ := os.ReadFile(filepath.Join(dir, monitor.DashboardFile))
		if n := strings.Count(string(page), `data-chart="exercise-day"`); n != 2 || !strings.Contains(string(page), "v7 (model/)") {
			t.Errorf("dashboard: %d charts, want 2, naming v7 (model/)", n)
		}
		if _, loaded := f.only(t); len(loaded) != 3 {
			t.Errorf("loaded %d rows, want 3", len(loaded))
		}
	})
	for _, c := range []struct {
		name  string
		stats func(*Stats)
		want  string
	}{
		{"incomplete", func(s *Stats) { s.Add(CountShards, 1) }, "incomplete input"},
		{"two versions", func(s *Stats) { s.Example(ExampleModelVersion, "v8") }, "different model versions"},
		{"miscounted", func(s *Stats) { s.Add(CountAttemptsScored, 1) }, "7 scored"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st := completeStats()
			c.stats(&st)
			fn := &writeMonitorFn{Out: MonitorOutput{Dir: dir, RunID: "r1"}}
			err := fn.ProcessElement(context.Background(), nil, testutil.Iter(rows...), testutil.Iter(st))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("wrote %d files", len(entries))
			}
		})
	}
}

// TestMergeDay merges two bundles' partials of a day and checks the
// rows against one accumulator fed every attempt.
func TestMergeDay(t *testing.T) {
	attempts := []evaluate.Attempt{
		{Exercise: "a", Correct: true, P: 0.9, HasP: true},
		{Exercise: "a", Correct: false, P: 0.3, HasP: true},
		{Exercise: "a", Correct: true, P: 0.2, HasP: true},
		{Exercise: "b", Correct: true, P: 0.6, HasP: true},
		{Exercise: "c", Correct: false},
	}
	whole := evaluate.NewAccumulator()
	parts := [2]*evaluate.Accumulator{evaluate.NewAccumulator(), evaluate.NewAccumulator()}
	for i, at := range attempts {
		whole.Add(at)
		parts[i%2].Add(at)
	}
	fn := &mergeEvalFn{}
	merged := fn.CreateAccumulator()
	for _, p := range parts {
		var err error
		if merged, err = fn.AddInput(merged, EvalPartial{Acc: p}); err != nil {
			t.Fatal(err)
		}
	}
	var got []monitor.Row
	emitDayRows("2014-01-05", fn.ExtractOutput(merged), func(r monitor.Row) { got = append(got, r) })
	want := monitor.DayRows("2014-01-05", whole.Report())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %+v, want %+v", got, want)
	}
	if len(got) != 3 || got[0].Exercise != "a" || got[0].Attempts != 3 || got[1].AUC != nil || got[2].Exercise != "c" || got[2].NoThetas != 1 {
		t.Errorf("rows %+v", got)
	}
	ll := (math.Log(0.9) + math.Log(0.7) + math.Log(0.2)) / 3
	if math.Abs(*got[0].LogLikelihood-ll) > 1e-12 || *got[0].AUC != 0.5 {
		t.Errorf("exercise a: LL %v AUC %v, want %v 0.5", *got[0].LogLikelihood, *got[0].AUC, ll)
	}
	if _, err := fn.MergeAccumulators(merged, EvalPartial{Acc: evaluate.NewAccumulator(BaselineCorrectRate)}); err == nil {
		t.Error("no error merging accumulators of other baselines")
	}
}

// TestStatsExamples: which examples a run keeps does not depend on the
// order they were seen in, or on how the stages that saw them were split;
// the model version every scoring bundle reports is one version.
func TestStatsExamples(t *testing.T) {
	var names []string
	for i := range 2 * maxExamples {
		names = append(names, fmt.Sprintf("student %02d", i))
	}
	var forwards, backwards, halves Stats
	for i, n := range names {
		forwards.Example(ExampleDropped, n)
		backwards.Example(ExampleDropped, names[len(names)-1-i])
	}
	var a, b Stats
	for i, n := range names {
		if i%2 == 0 {
			a.Example(ExampleDropped, n)
		} else {
			b.Example(ExampleDropped, n)
		}
	}
	halves.Merge(b)
	halves.Merge(a)
	want := names[:maxExamples]
	for name, st := range map[string]Stats{"forwards": forwards, "backwards": backwards, "merged halves": halves} {
		if got := st.Examples[ExampleDropped]; !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	var run Stats
	for range 3 { // three scoring bundles
		var bundle Stats
		bundle.Example(ExampleModelVersion, "v7")
		bundle.Example(ExampleModelVersion, "v7")
		run.Merge(bundle)
	}
	if got := run.Examples[ExampleModelVersion]; !slices.Equal(got, []string{"v7"}) {
		t.Errorf("versions of three bundles of v7: %q", got)
	}
}
