package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dataflow "google.golang.org/api/dataflow/v1b3"
	"google.golang.org/api/googleapi"
)

var fixedNow = time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

// fakeDataflow is a Dataflow API server that records the launch requests it
// gets and answers each with a job, or with status and body when set.
type fakeDataflow struct {
	t      *testing.T
	srv    *httptest.Server
	status int    // 0: 200 with a job
	body   string // the error body with status

	mu   sync.Mutex
	reqs []*dataflow.LaunchFlexTemplateRequest
}

func newFakeDataflow(t *testing.T) *fakeDataflow {
	f := &fakeDataflow{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDataflow) serve(w http.ResponseWriter, r *http.Request) {
	const want = "/v1b3/projects/proj-1/locations/us-central1/flexTemplates:launch"
	if r.Method != http.MethodPost || r.URL.Path != want {
		f.t.Errorf("request %s %s; want POST %s", r.Method, r.URL.Path, want)
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Errorf("Content-Type %q; want application/json", ct)
	}
	if a := r.Header.Get("Authorization"); a != "" {
		f.t.Errorf("Authorization %q sent to an http:// endpoint", a)
	}
	var req dataflow.LaunchFlexTemplateRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.t.Errorf("decoding the request body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, &req)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.status != 0 {
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
		return
	}
	resp := &dataflow.LaunchFlexTemplateResponse{}
	if !req.ValidateOnly {
		resp.Job = &dataflow.Job{
			Id:        "2026-11-26_05_00_00-1234567890",
			Name:      req.LaunchParameter.JobName,
			ProjectId: "proj-1",
			Location:  "us-central1",
		}
	}
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeDataflow) requests() []*dataflow.LaunchFlexTemplateRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs
}

// baseArgs are the required flags, aimed at f.
func (f *fakeDataflow) baseArgs(extra ...string) []string {
	return append([]string{
		"--project=proj-1", "--region=us-central1",
		"--template=gs://bucket/templates/kmtrain.json",
		"--dataflow_endpoint=" + f.srv.URL,
	}, extra...)
}

func TestLaunch(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		now          time.Time
		params       map[string]string
		env          *dataflow.FlexTemplateRuntimeEnvironment
		validateOnly bool
		prefix       string
	}{{
		name:   "default window",
		args:   []string{"--parameter", "bq_table=p.d.t"},
		now:    fixedNow,
		params: map[string]string{"bq_table": "p.d.t", "start": "2026-08-28", "end": "2026-11-26"},
		prefix: "kmtrain-20261126-130000-",
	}, {
		name: "window at midnight and in another zone is the UTC date",
		args: []string{"--window_days=7", "--parameter", "bq_table=p.d.t"},
		// 2026-03-01 23:30 in UTC-5 is 2026-03-02 04:30 UTC.
		now:    time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)),
		params: map[string]string{"bq_table": "p.d.t", "start": "2026-02-23", "end": "2026-03-02"},
		prefix: "kmtrain-20260302-043000-",
	}, {
		name:   "relative window",
		args:   []string{"--relative_window", "--window_days=30", "--parameter", "bq_table=p.d.t"},
		now:    fixedNow,
		params: map[string]string{"bq_table": "p.d.t", "start": "-30d", "end": "today"},
	}, {
		name: "no source (the embedded sample) has no window",
		now:  fixedNow,
	}, {
		name:   "no window",
		args:   []string{"--window_days=0", "--parameter", "bq_table=p.d.t"},
		now:    fixedNow,
		params: map[string]string{"bq_table": "p.d.t"},
	}, {
		name:   "a query has no window",
		args:   []string{"--parameter", "bq_query=SELECT 1"},
		now:    fixedNow,
		params: map[string]string{"bq_query": "SELECT 1"},
	}, {
		name:   "files have no window",
		args:   []string{"--parameter", "input=gs://b/logs/*.csv"},
		now:    fixedNow,
		params: map[string]string{"input": "gs://b/logs/*.csv"},
	}, {
		name: "explicit start and parameters win",
		args: []string{
			"--parameters", `{"bq_table":"p.d.old","l2":0.001,"promote":false,"end":"2026-01-01"}`,
			"--parameter", "start=2026-10-01", "--parameter=bq_table=p.d.t",
			"--parameter", "columns=user=student_id,time_done=ts",
		},
		now: fixedNow,
		params: map[string]string{
			"start": "2026-10-01", "end": "2026-01-01", "bq_table": "p.d.t",
			"l2": "0.001", "promote": "false", "columns": "user=student_id,time_done=ts",
		},
	}, {
		name: "environment",
		args: []string{
			"--job_name=KMTrain-Nightly", "--machine_type=n2-standard-4", "--max_workers=20", "--num_workers=2",
			"--service_account=kmtrain@proj-1.iam.gserviceaccount.com",
			"--temp_location=gs://bucket/tmp", "--staging_location=gs://bucket/staging",
			"--network=net", "--subnetwork=regions/us-central1/subnetworks/sub",
			"--labels=team=learning,app=kmtrain", "--labels", "env=prod",
			"--additional_experiments=use_runner_v2,enable_prime", "--additional_experiments=shuffle_mode=service",
		},
		now: fixedNow,
		env: &dataflow.FlexTemplateRuntimeEnvironment{
			MachineType: "n2-standard-4", MaxWorkers: 20, NumWorkers: 2,
			ServiceAccountEmail: "kmtrain@proj-1.iam.gserviceaccount.com",
			TempLocation:        "gs://bucket/tmp", StagingLocation: "gs://bucket/staging",
			Network: "net", Subnetwork: "regions/us-central1/subnetworks/sub",
			AdditionalUserLabels:  map[string]string{"team": "learning", "app": "kmtrain", "env": "prod"},
			AdditionalExperiments: []string{"use_runner_v2", "enable_prime", "shuffle_mode=service"},
		},
		prefix: "kmtrain-nightly-20261126-130000-",
	}, {
		name:         "validate only",
		args:         []string{"--validate_only"},
		now:          fixedNow,
		validateOnly: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDataflow(t)
			var out bytes.Buffer
			if err := run(context.Background(), f.baseArgs(tt.args...), clock(tt.now), &out); err != nil {
				t.Fatalf("run: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests; want 1", len(reqs))
			}
			req := reqs[0]
			lp := req.LaunchParameter
			if lp == nil {
				t.Fatal("no launchParameter")
			}
			checkJobName(t, lp.JobName)
			if tt.prefix != "" && !strings.HasPrefix(lp.JobName, tt.prefix) {
				t.Errorf("jobName %q; want prefix %q", lp.JobName, tt.prefix)
			}
			if lp.ContainerSpecGcsPath != "gs://bucket/templates/kmtrain.json" {
				t.Errorf("containerSpecGcsPath %q", lp.ContainerSpecGcsPath)
			}
			if !maps.Equal(lp.Parameters, tt.params) {
				t.Errorf("parameters %v; want %v", lp.Parameters, tt.params)
			}
			if got, want := jsonText(t, lp.Environment), jsonText(t, tt.env); got != want {
				t.Errorf("environment %s; want %s", got, want)
			}
			if req.ValidateOnly != tt.validateOnly {
				t.Errorf("validateOnly %v; want %v", req.ValidateOnly, tt.validateOnly)
			}
			if tt.validateOnly {
				if !strings.Contains(out.String(), "validated") || !strings.Contains(out.String(), lp.JobName) {
					t.Errorf("output %q; want it to say the launch of %s validated", out.String(), lp.JobName)
				}
				return
			}
			want := fmt.Sprintf("job id:   2026-11-26_05_00_00-1234567890\njob name: %s\n"+
				"console:  https://console.cloud.google.com/dataflow/jobs/us-central1/2026-11-26_05_00_00-1234567890?project=proj-1\n", lp.JobName)
			if out.String() != want {
				t.Errorf("output\n%s\nwant\n%s", out.String(), want)
			}
		})
	}
}

func checkJobName(t *testing.T, name string) {
	t.Helper()
	if !jobNameRule.MatchString(name) || len(name) > maxJobName {
		t.Errorf("job name %q does not match %s or is longer than %d", name, jobNameRule, maxJobName)
	}
}

// jsonText is v as JSON; nil and empty values alike are "null".
func jsonText(t *testing.T, v *dataflow.FlexTemplateRuntimeEnvironment) string {
	t.Helper()
	if v == nil {
		return "null"
	}
	// Decode and re-encode so map and field order do not matter.
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		return "null"
	}
	b, _ = json.Marshal(m)
	return string(b)
}

func TestJobNamesUnique(t *testing.T) {
	f := newFakeDataflow(t)
	times := []time.Time{fixedNow, fixedNow.Add(time.Second), fixedNow.Add(time.Second), fixedNow.Add(time.Second + 500*time.Millisecond)}
	for _, now := range times {
		if err := run(context.Background(), f.baseArgs(), clock(now), io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, req := range f.requests() {
		name := req.LaunchParameter.JobName
		checkJobName(t, name)
		if seen[name] {
			t.Errorf("job name %q used twice", name)
		}
		seen[name] = true
	}
	if len(seen) != len(times) {
		t.Errorf("%d distinct names for %d launches", len(seen), len(times))
	}

	// Many launches within one second.
	names := map[string]bool{}
	for range 1000 {
		names[launchRequest(config{JobNamePrefix: "kmtrain", Template: "gs://b/t"}, fixedNow).LaunchParameter.JobName] = true
	}
	if len(names) != 1000 {
		t.Errorf("%d distinct names for 1000 launches in the same second", len(names))
	}
}

func TestJobNameLongestPrefix(t *testing.T) {
	prefix := "k" + strings.Repeat("-x", (maxJobName-jobNameSuffixLen-1)/2)
	prefix += strings.Repeat("y", maxJobName-jobNameSuffixLen-len(prefix))
	for _, p := range []string{prefix, "a", "kmtrain-"} {
		name := jobName(p, fixedNow, randomSuffix())
		checkJobName(t, name)
		if _, err := parseFlags([]string{"--project=p", "--region=r", "--template=gs://b/t", "--job_name=" + p}, io.Discard); err != nil {
			t.Errorf("--job_name=%s: %v", p, err)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
	}{{
		name:   "409 already exists",
		status: http.StatusConflict,
		body: `{"error":{"code":409,"message":"(4c1f) There is already an active job named kmtrain-x. If you want to submit a second job, try again by setting a different name.",` +
			`"status":"ALREADY_EXISTS"}}`,
		want: []string{"HTTP 409", "Conflict", "ALREADY_EXISTS", "There is already an active job named", "still active in proj-1/us-central1"},
	}, {
		name:   "400 invalid argument",
		status: http.StatusBadRequest,
		body: `{"error":{"code":400,"message":"The template parameters are invalid.","status":"INVALID_ARGUMENT",` +
			`"details":[{"@type":"type.googleapis.com/google.dataflow.v1beta3.InvalidTemplateParameters","parameterViolations":[{"parameter":"bogus","description":"Unrecognized parameter"}]}]}}`,
		want: []string{"HTTP 400", "INVALID_ARGUMENT", "The template parameters are invalid."},
	}, {
		name:   "403",
		status: http.StatusForbidden,
		body:   `{"error":{"code":403,"message":"Permission 'dataflow.jobs.create' denied","status":"PERMISSION_DENIED"}}`,
		want:   []string{"HTTP 403", "PERMISSION_DENIED", "dataflow.jobs.create", "Credentials"},
	}, {
		name:   "not JSON",
		status: http.StatusBadGateway,
		body:   "upstream connect error",
		want:   []string{"HTTP 502", "upstream connect error"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDataflow(t)
			f.status, f.body = tt.status, tt.body
			var out bytes.Buffer
			err := run(context.Background(), f.baseArgs(), clock(fixedNow), &out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if name := f.requests()[0].LaunchParameter.JobName; !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the job %s", err, name)
			}
			var gerr *googleapi.Error
			if !errors.As(err, &gerr) || gerr.Code != tt.status {
				t.Errorf("error %v does not wrap a googleapi.Error with code %d", err, tt.status)
			}
			if out.Len() > 0 {
				t.Errorf("output %q on failure", out.String())
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	f := newFakeDataflow(t)
	var out bytes.Buffer
	args := f.baseArgs("--dry_run", "--validate_only", "--max_workers=3", "--parameter=bq_table=p.d.t")
	if err := run(context.Background(), args, clock(fixedNow), &out); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("--dry_run sent %d requests", n)
	}
	var req dataflow.LaunchFlexTemplateRequest
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("output is not the request JSON: %v\n%s", err, out.String())
	}
	lp := req.LaunchParameter
	checkJobName(t, lp.JobName)
	want := map[string]string{"bq_table": "p.d.t", "start": "2026-08-28", "end": "2026-11-26"}
	if !req.ValidateOnly || lp.ContainerSpecGcsPath != "gs://bucket/templates/kmtrain.json" ||
		!maps.Equal(lp.Parameters, want) || lp.Environment == nil || lp.Environment.MaxWorkers != 3 {
		t.Errorf("printed request %s", jsonOf(t, &req))
	}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFlagErrors(t *testing.T) {
	base := []string{"--project=p", "--region=r", "--template=gs://b/t.json"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "missing required flag(s) --project, --region, --template"},
		{"no project", base[1:], "missing required flag(s) --project"},
		{"no region", []string{base[0], base[2]}, "missing required flag(s) --region"},
		{"no template", base[:2], "missing required flag(s) --template"},
		{"template not gs", append(base[:2:2], "--template=/tmp/t.json"), "gs://"},
		{"bad job name", append(base, "--job_name=9km"), "--job_name"},
		{"job name too long", append(base, "--job_name="+strings.Repeat("k", 41)), "at most 40"},
		{"negative window", append(base, "--window_days=-1"), "--window_days"},
		{"parameter without =", append(base, "--parameter=start"), "want name=value"},
		{"bad parameters JSON", append(base, "--parameters={bq_table:1}"), "--parameters"},
		{"parameters not an object", append(base, `--parameters=["a"]`), "--parameters"},
		{"nested parameter", append(base, `--parameters={"a":{"b":1}}`), "want a string, number or boolean"},
		{"bad labels", append(base, "--labels=team"), "want name=value"},
		{"num over max workers", append(base, "--num_workers=5", "--max_workers=2"), "--num_workers"},
		{"unknown flag", append(base, "--bogus"), "not defined"},
		{"positional", append(base, "extra"), "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, clock(fixedNow), &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
			if out.Len() > 0 {
				t.Errorf("output %q", out.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, clock(fixedNow), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("error %v; want flag.ErrHelp", err)
	}
	for _, f := range []string{"-project", "-region", "-template", "-window_days", "-relative_window", "-dry_run", "-validate_only", "-dataflow_endpoint"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("usage lacks %s", f)
		}
	}
}

func TestWindowParameters(t *testing.T) {
	tests := []struct {
		days     int
		relative bool
		now      time.Time
		want     map[string]string
	}{
		{90, false, fixedNow, map[string]string{"start": "2026-08-28", "end": "2026-11-26"}},
		{1, false, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), map[string]string{"start": "2025-12-31", "end": "2026-01-01"}},
		{1, false, time.Date(2026, 1, 1, 23, 59, 59, 999, time.UTC), map[string]string{"start": "2025-12-31", "end": "2026-01-01"}},
		{366, false, time.Date(2028, 3, 1, 12, 0, 0, 0, time.UTC), map[string]string{"start": "2027-03-01", "end": "2028-03-01"}},
		{90, true, fixedNow, map[string]string{"start": "-90d", "end": "today"}},
		{0, false, fixedNow, nil},
		{0, true, fixedNow, nil},
	}
	for _, tt := range tests {
		if got := windowParameters(tt.days, tt.relative, tt.now); !maps.Equal(got, tt.want) {
			t.Errorf("windowParameters(%d, %v, %v) = %v; want %v", tt.days, tt.relative, tt.now, got, tt.want)
		}
	}
}

// TestScheduledRequest makes the body a Cloud Scheduler job posts as is: a
// fixed job name and a window relative to each launch.
func TestScheduledRequest(t *testing.T) {
	f := newFakeDataflow(t)
	var out bytes.Buffer
	args := f.baseArgs("--dry_run", "--fixed_job_name", "--job_name=kmtrain-scheduled", "--relative_window", "--window_days=30", "--parameter", "bq_table=p.d.t")
	if err := run(context.Background(), args, clock(fixedNow), &out); err != nil {
		t.Fatal(err)
	}
	var req dataflow.LaunchFlexTemplateRequest
	if err := json.Unmarshal(out.Bytes(), &req); err != nil {
		t.Fatal(err)
	}
	lp := req.LaunchParameter
	if lp.JobName != "kmtrain-scheduled" || lp.Parameters["start"] != "-30d" || lp.Parameters["end"] != "today" {
		t.Errorf("request %s: want job kmtrain-scheduled, start -30d, end today", jsonOf(t, &req))
	}
	if err := run(context.Background(), f.baseArgs("--fixed_job_name", "--job_name=Bad_Name", "--dry_run"), clock(fixedNow), &out); err == nil {
		t.Error("a fixed job name Dataflow refuses was accepted")
	}
}
