package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	dataflow "google.golang.org/api/dataflow/v1b3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// Names of kmtrain's window parameters.
const (
	startParam = "start"
	endParam   = "end"
)

// maxJobName is Dataflow's limit on job names; jobNameRule their form.
const maxJobName = 63

var jobNameRule = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// jobNameSuffixLen is the length of the part jobName appends to the prefix:
// "-YYYYMMDD-HHMMSS-" and 6 random characters.
const jobNameSuffixLen = 1 + 15 + 1 + 6

// config is kmlaunch's flags.
type config struct {
	Project, Region, Template string
	JobNamePrefix             string
	FixedJobName              bool // the prefix is the whole name (for a scheduled request)

	Parameters     map[string]string // --parameters, then --parameter
	WindowDays     int
	RelativeWindow bool

	MachineType     string
	MaxWorkers      int
	NumWorkers      int
	ServiceAccount  string
	TempLocation    string
	StagingLocation string
	Network         string
	Subnetwork      string
	Labels          map[string]string
	Experiments     []string

	DryRun       bool
	ValidateOnly bool
	Endpoint     string
}

// run parses args, builds the launch request for the time now() and sends
// it (or prints it with --dry_run), writing the result to out.
func run(ctx context.Context, args []string, now func() time.Time, out io.Writer) error {
	cfg, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	req := launchRequest(cfg, now())
	if cfg.DryRun {
		b, err := json.MarshalIndent(req, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	return launch(ctx, cfg, req, out)
}

// parseFlags parses and checks kmlaunch's flags. With -help it prints the
// usage to out and returns flag.ErrHelp.
func parseFlags(args []string, out io.Writer) (config, error) {
	var cfg config
	params := keyValues{}
	labels := keyValues{}
	var experiments list
	var paramsJSON string

	fs := flag.NewFlagSet("kmlaunch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.Project, "project", "", "Google Cloud project the job runs in (required).")
	fs.StringVar(&cfg.Region, "region", "", "Dataflow region, e.g. us-central1 (required).")
	fs.StringVar(&cfg.Template, "template", "", "gs:// path of the kmtrain Flex Template spec JSON (required).")
	fs.BoolVar(&cfg.FixedJobName, "fixed_job_name", false, "Use --job_name as the whole job name, unchanged: for a request posted as is on a schedule, where a launch while the previous run is still going should fail with 409 rather than overlap it.")
	fs.StringVar(&cfg.JobNamePrefix, "job_name", "kmtrain", fmt.Sprintf("Job name prefix; each launch appends the UTC launch time and a random suffix (at most %d characters).", maxJobName-jobNameSuffixLen))
	fs.Var(params, "parameter", "Template parameter name=value (repeatable); wins over --parameters and the window.")
	fs.StringVar(&paramsJSON, "parameters", "", `Template parameters as a JSON object, e.g. {"bq_table":"p.d.t","l2":0.001}.`)
	fs.IntVar(&cfg.WindowDays, "window_days", 90, "With a bq_table parameter: set the parameters start and end to the last N days up to yesterday, UTC (0: no window).")
	fs.BoolVar(&cfg.RelativeWindow, "relative_window", false, "Pass the window in kmtrain's relative form (start=-<N>d, end=today) instead of dates.")
	fs.StringVar(&cfg.MachineType, "machine_type", "", "Worker machine type, e.g. n2-standard-4.")
	fs.IntVar(&cfg.MaxWorkers, "max_workers", 0, "Most workers (0: Dataflow's default).")
	fs.IntVar(&cfg.NumWorkers, "num_workers", 0, "Initial number of workers (0: Dataflow's default).")
	fs.StringVar(&cfg.ServiceAccount, "service_account", "", "Worker service account email.")
	fs.StringVar(&cfg.TempLocation, "temp_location", "", "gs:// path for temporary files.")
	fs.StringVar(&cfg.StagingLocation, "staging_location", "", "gs:// path for staged files.")
	fs.StringVar(&cfg.Network, "network", "", "Compute Engine network for the workers.")
	fs.StringVar(&cfg.Subnetwork, "subnetwork", "", "Compute Engine subnetwork for the workers (e.g. regions/R/subnetworks/S or a full URL).")
	fs.Var(labelList{labels}, "labels", "Job labels k=v,k=v (repeatable).")
	fs.Var(&experiments, "additional_experiments", "Comma-separated Dataflow experiments (repeatable).")
	fs.BoolVar(&cfg.DryRun, "dry_run", false, "Print the request JSON and send nothing.")
	fs.BoolVar(&cfg.ValidateOnly, "validate_only", false, "Ask Dataflow to validate the request without starting a job.")
	fs.StringVar(&cfg.Endpoint, "dataflow_endpoint", "", "Dataflow API endpoint, for private endpoints and tests (an http:// endpoint is used without credentials).")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(out, "Usage: kmlaunch --project=P --region=R --template=gs://.../kmtrain.json [flags]")
			fs.SetOutput(out)
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q (flags only; template parameters go in --parameter name=value)", fs.Args())
	}

	cfg.Parameters = map[string]string{}
	if paramsJSON != "" {
		m, err := parseParametersJSON(paramsJSON)
		if err != nil {
			return cfg, err
		}
		maps.Copy(cfg.Parameters, m)
	}
	maps.Copy(cfg.Parameters, params)
	cfg.Labels = labels
	cfg.Experiments = experiments
	cfg.JobNamePrefix = strings.ToLower(cfg.JobNamePrefix)
	return cfg, cfg.check()
}

// check reports what is missing or wrong in cfg.
func (cfg config) check() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--project", cfg.Project}, {"--region", cfg.Region}, {"--template", cfg.Template}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required flag(s) %s", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(cfg.Template, "gs://") {
		return fmt.Errorf("--template=%q: want the gs:// path of the template spec JSON", cfg.Template)
	}
	p := cfg.JobNamePrefix
	if cfg.FixedJobName {
		if !jobNameRule.MatchString(p) || len(p) > maxJobName {
			return fmt.Errorf("--job_name=%q: want at most %d characters, a lower-case letter then letters, digits or hyphens, not ending in a hyphen", p, maxJobName)
		}
	} else if !jobNameRule.MatchString(strings.TrimRight(p, "-")) || len(p) > maxJobName-jobNameSuffixLen {
		return fmt.Errorf("--job_name=%q: want a prefix of at most %d characters, a lower-case letter then letters, digits or hyphens", p, maxJobName-jobNameSuffixLen)
	}
	if cfg.WindowDays < 0 {
		return fmt.Errorf("--window_days=%d: want 0 (no window) or more", cfg.WindowDays)
	}
	if cfg.MaxWorkers < 0 || cfg.NumWorkers < 0 {
		return errors.New("--max_workers and --num_workers must not be negative")
	}
	if cfg.MaxWorkers > 0 && cfg.NumWorkers > cfg.MaxWorkers {
		return fmt.Errorf("--num_workers=%d is more than --max_workers=%d", cfg.NumWorkers, cfg.MaxWorkers)
	}
	return nil
}

// launchRequest builds the request launching cfg's template at time now.
// The only thing not determined by cfg and now is the job name's random
// suffix.
func launchRequest(cfg config, now time.Time) *dataflow.LaunchFlexTemplateRequest {
	params := map[string]string{}
	if _, table := cfg.Parameters["bq_table"]; table { // start and end select a window of bq_table: kmtrain refuses them without it
		maps.Copy(params, windowParameters(cfg.WindowDays, cfg.RelativeWindow, now))
	}
	maps.Copy(params, cfg.Parameters)
	if len(params) == 0 {
		params = nil
	}
	env := &dataflow.FlexTemplateRuntimeEnvironment{
		MachineType:           cfg.MachineType,
		MaxWorkers:            int64(cfg.MaxWorkers),
		NumWorkers:            int64(cfg.NumWorkers),
		ServiceAccountEmail:   cfg.ServiceAccount,
		TempLocation:          cfg.TempLocation,
		StagingLocation:       cfg.StagingLocation,
		Network:               cfg.Network,
		Subnetwork:            cfg.Subnetwork,
		AdditionalExperiments: cfg.Experiments,
	}
	if len(cfg.Labels) > 0 {
		env.AdditionalUserLabels = cfg.Labels
	}
	if b, _ := json.Marshal(env); string(b) == "{}" {
		env = nil
	}
	name := cfg.JobNamePrefix
	if !cfg.FixedJobName {
		name = jobName(cfg.JobNamePrefix, now, randomSuffix())
	}
	return &dataflow.LaunchFlexTemplateRequest{
		LaunchParameter: &dataflow.LaunchFlexTemplateParameter{
			JobName:              name,
			ContainerSpecGcsPath: cfg.Template,
			Parameters:           params,
			Environment:          env,
		},
		ValidateOnly: cfg.ValidateOnly,
	}
}

// windowParameters returns the start and end parameters of the last days
// days up to yesterday, UTC, at time now: absolute dates, or kmtrain's
// relative forms. days 0 means no window.
func windowParameters(days int, relative bool, now time.Time) map[string]string {
	if days <= 0 {
		return nil
	}
	if relative {
		return map[string]string{startParam: fmt.Sprintf("-%dd", days), endParam: "today"}
	}
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return map[string]string{
		startParam: today.AddDate(0, 0, -days).Format(time.DateOnly),
		endParam:   today.Format(time.DateOnly),
	}
}

// jobName is prefix-YYYYMMDD-HHMMSS-suffix, the launch time in UTC.
func jobName(prefix string, now time.Time, suffix string) string {
	return fmt.Sprintf("%s-%s-%s", strings.TrimRight(prefix, "-"), now.UTC().Format("20060102-150405"), suffix)
}

// randomSuffix returns 6 random lower-case letters and digits (30 bits).
func randomSuffix() string {
	return strings.ToLower(rand.Text()[:6])
}

// launch sends req and prints the launched job.
func launch(ctx context.Context, cfg config, req *dataflow.LaunchFlexTemplateRequest, out io.Writer) error {
	var opts []option.ClientOption
	endpoint := "https://dataflow.googleapis.com/"
	if cfg.Endpoint != "" {
		endpoint = cfg.Endpoint
		if !strings.HasSuffix(endpoint, "/") {
			endpoint += "/"
		}
		opts = append(opts, option.WithEndpoint(endpoint))
		if strings.HasPrefix(endpoint, "http://") {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	svc, err := dataflow.NewService(ctx, opts...)
	if err != nil {
		return fmt.Errorf("dataflow client (Application Default Credentials; see gcloud auth application-default login): %w", err)
	}
	name := req.LaunchParameter.JobName
	resp, err := svc.Projects.Locations.FlexTemplates.Launch(cfg.Project, cfg.Region, req).Context(ctx).Do()
	if err != nil {
		return launchFailure(err, cfg, name, endpoint)
	}
	if cfg.ValidateOnly {
		_, err := fmt.Fprintf(out, "validated: Dataflow accepted the launch of %s (validate_only: no job started)\n", name)
		return err
	}
	job := resp.Job
	if job == nil || job.Id == "" {
		return fmt.Errorf("launch of %s: Dataflow's response names no job", name)
	}
	if job.Name != "" {
		name = job.Name
	}
	project, region := cfg.Project, cfg.Region
	if job.ProjectId != "" {
		project = job.ProjectId
	}
	if job.Location != "" {
		region = job.Location
	}
	_, err = fmt.Fprintf(out, "job id:   %s\njob name: %s\nconsole:  %s\n", job.Id, name, consoleURL(project, region, job.Id))
	return err
}

// consoleURL is the Cloud Console page of a Dataflow job.
func consoleURL(project, region, id string) string {
	return fmt.Sprintf("https://console.cloud.google.com/dataflow/jobs/%s/%s?project=%s",
		url.PathEscape(region), url.PathEscape(id), url.QueryEscape(project))
}

// apiError is a failed launch answered by the Dataflow API.
type apiError struct {
	Code    int    // HTTP status
	Status  string // Google's status, e.g. ALREADY_EXISTS
	Message string
	JobName string
	hint    string
	err     *googleapi.Error
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "launch of %s failed: HTTP %d", e.JobName, e.Code)
	if t := http.StatusText(e.Code); t != "" {
		fmt.Fprintf(&b, " %s", t)
	}
	if e.Status != "" {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.hint != "" {
		fmt.Fprintf(&b, "; %s", e.hint)
	}
	return b.String()
}

func (e *apiError) Unwrap() error { return e.err }

// launchFailure describes err, the failure of the launch of job name.
func launchFailure(err error, cfg config, name, endpoint string) error {
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		return fmt.Errorf("launch of %s: request to %s: %w", name, endpoint, err)
	}
	e := &apiError{Code: gerr.Code, Message: gerr.Message, JobName: name, err: gerr}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(gerr.Body), &body) == nil {
		e.Status = body.Error.Status
		if e.Message == "" {
			e.Message = body.Error.Message
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(gerr.Body)
		if len(e.Message) > 500 {
			e.Message = e.Message[:500] + "..."
		}
	}
	switch e.Code {
	case http.StatusConflict:
		e.hint = fmt.Sprintf("a job with this name is still active in %s/%s: wait for it to finish or cancel it, or launch under another name", cfg.Project, cfg.Region)
	case http.StatusUnauthorized, http.StatusForbidden:
		e.hint = "check the Application Default Credentials and their roles on the project (e.g. roles/dataflow.developer, and iam.serviceAccountUser on the worker service account)"
	case http.StatusNotFound:
		e.hint = "check --project, --region and --template"
	}
	return e
}

// keyValues is a repeatable flag of name=value pairs.
type keyValues map[string]string

func (kv keyValues) String() string {
	keys := slices.Sorted(maps.Keys(kv))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + kv[k]
	}
	return strings.Join(parts, ",")
}

// Set adds name=value; the value may contain '=' and ','.
func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	kv[k] = v
	return nil
}

// labelList is a repeatable flag of comma-separated k=v pairs.
type labelList struct{ keyValues }

func (l labelList) Set(s string) error {
	for p := range strings.SplitSeq(s, ",") {
		if err := l.keyValues.Set(strings.TrimSpace(p)); err != nil {
			return err
		}
	}
	return nil
}

// list is a repeatable flag of comma-separated values.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }

func (l *list) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// parseParametersJSON reads a JSON object of parameters; numbers and
// booleans become their JSON text.
func parseParametersJSON(s string) (map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("--parameters: want a JSON object of name: value: %w", err)
	}
	if dec.More() {
		return nil, errors.New("--parameters: text after the JSON object")
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			m[k] = v
		case json.Number:
			m[k] = v.String()
		case bool:
			m[k] = strconv.FormatBool(v)
		default:
			b, _ := json.Marshal(v)
			return nil, fmt.Errorf("--parameters: %s is %s; want a string, number or boolean", k, bytes.TrimSpace(b))
		}
	}
	return m, nil
}
