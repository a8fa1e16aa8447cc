package runners_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/transforms"
)

func TestMain(m *testing.M) { os.Exit(ptest.MainRet(m)) }

// logCapture keeps what Beam logs.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *logCapture) Log(_ context.Context, _ log.Severity, _ int, msg string) {
	c.mu.Lock()
	c.msgs = append(c.msgs, msg)
	c.mu.Unlock()
}

// TestDataflowDryRun translates the production pipeline (BigQuery to
// Datastore) for Dataflow with --dry_run: no credentials, no network. The
// job must carry the worker settings the flags give, and the pipeline the
// steps of the training: read, group per student, features, group per
// exercise, train, write.
func TestDataflowDryRun(t *testing.T) {
	// Where a machine has credentials, Beam's check of the staging bucket
	// would reach Cloud Storage: make it fail at once instead.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "none.json"))
	capture := &logCapture{}
	log.SetLogger(capture)
	t.Cleanup(func() { log.SetLogger(&log.Structural{}) })
	testutil.SetFlags(t, map[string]string{
		"runner":                "dataflow",
		"dry_run":               "true",
		"project":               "khan-prod",
		"region":                "us-central1",
		"staging_location":      "gs://khan-dataflow/staging",
		"temp_location":         "gs://khan-dataflow/tmp",
		"worker_machine_type":   "n2-highmem-8",
		"max_num_workers":       "40",
		"service_account_email": "kmtrain@khan-prod.iam.gserviceaccount.com",
		"network":               "training",
		"subnetwork":            "regions/us-central1/subnetworks/training",
		"labels":                `{"team":"learning","model":"knowledge"}`,
	})

	o := pipeline.DefaultOptions()
	o.BigQuery = &bqsource.Config{Table: "khan-prod.logs.problemlogs",
		Start: time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)}
	o.Output = ""
	o.Datastore = &transforms.Datastore{Project: "khan-prod", Promote: true}
	o.Components = pipeline.ComponentsFromDatastore
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, o); err != nil {
		t.Fatal(err)
	}
	if _, err := runners.Run(context.Background(), p); err != nil {
		t.Fatalf("dry run: %v", err)
	}

	var job struct {
		Name        string            `json:"name"`
		ProjectID   string            `json:"projectId"`
		Labels      map[string]string `json:"labels"`
		Environment struct {
			ServiceAccountEmail string `json:"serviceAccountEmail"`
			TempStoragePrefix   string `json:"tempStoragePrefix"`
			WorkerPools         []struct {
				MachineType         string `json:"machineType"`
				Network             string `json:"network"`
				Subnetwork          string `json:"subnetwork"`
				AutoscalingSettings struct {
					MaxNumWorkers int `json:"maxNumWorkers"`
				} `json:"autoscalingSettings"`
			} `json:"workerPools"`
		} `json:"environment"`
	}
	var graph string
	capture.mu.Lock()
	for _, m := range capture.msgs {
		switch {
		case strings.HasPrefix(m, "{") && strings.Contains(m, `"workerPools"`):
			if err := json.Unmarshal([]byte(m), &job); err != nil {
				t.Fatalf("job JSON: %v", err)
			}
		case strings.Contains(m, "unique_name:"):
			graph = m
		}
	}
	capture.mu.Unlock()
	if job.ProjectID != "khan-prod" || len(job.Environment.WorkerPools) != 1 {
		t.Fatalf("no Dataflow job printed, or not for khan-prod: %+v", job)
	}
	w := job.Environment.WorkerPools[0]
	if w.MachineType != "n2-highmem-8" || w.AutoscalingSettings.MaxNumWorkers != 40 ||
		w.Network != "training" || w.Subnetwork != "regions/us-central1/subnetworks/training" {
		t.Errorf("worker pool %+v: want n2-highmem-8, at most 40 workers, network training", w)
	}
	if job.Environment.ServiceAccountEmail != "kmtrain@khan-prod.iam.gserviceaccount.com" ||
		!strings.HasPrefix(job.Environment.TempStoragePrefix, "gs://khan-dataflow/tmp") {
		t.Errorf("environment %+v: want the service account and temp location of the flags", job.Environment)
	}
	if !reflect.DeepEqual(job.Labels, map[string]string{"team": "learning", "model": "knowledge"}) {
		t.Errorf("labels %v", job.Labels)
	}
	for _, step := range []string{
		"ReadBigQuery",           // read: the query and its Storage Read streams
		"ReadBigQuery/Reshuffle", // streams spread over workers
		"ReplayStudents/CoGBK",   // group per student
		"ReplayStudents",         // features
		"TrainExercises/CoGBK",   // group per exercise
		"TrainExercises",         // train
		"WriteModel",             // write
		"ReadComponents",         // the components in use, for the sink
	} {
		if !strings.Contains(graph, fmt.Sprintf(`unique_name:"%s"`, step)) {
			t.Errorf("the job's pipeline has no step %s", step)
		}
	}
}

// TestPortableJobServer runs the pipeline end to end on Beam's standalone
// prism job server, pinned to the SDK version by go.mod, as Flink and Spark
// job servers are reached: --runner=universal --endpoint=HOST:PORT
// --environment_type=LOOPBACK. The thetas must be those of the in-process
// runner.
func TestPortableJobServer(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the prism job server with")
	}
	bin := filepath.Join(t.TempDir(), "prism")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/apache/beam/sdks/v2/go/cmd/prism")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the prism job server: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	server := exec.Command(bin, fmt.Sprintf("--job_port=%d", port), "--serve_http=false")
	serverLog := &syncBuffer{}
	server.Stdout, server.Stderr = serverLog, serverLog
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Process.Kill()
		server.Wait()
		if t.Failed() {
			t.Logf("job server output:\n%s", serverLog.String())
		}
	})
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.Dial("tcp", endpoint)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job server never listened on %s", endpoint)
		}
		time.Sleep(100 * time.Millisecond)
	}

	run := func(runner string) *predict.Model {
		o := pipeline.DefaultOptions()
		o.Input = "../testdata/khan2014/problemlogs.csv"
		o.Components = "../testdata/khan2014/components.jsonl"
		o.Window = features.AllProblems
		o.MinRows = 1
		o.Version = "portable"
		o.Output = t.TempDir()
		p, s := beam.NewPipelineWithRoot()
		if err := pipeline.Build(s, o); err != nil {
			t.Fatal(err)
		}
		if runner == "universal" {
			testutil.SetFlags(t, map[string]string{"runner": "universal", "endpoint": endpoint, "environment_type": "LOOPBACK"})
		}
		if _, err := runners.Run(context.Background(), p); err != nil {
			t.Fatalf("%s: %v", runner, err)
		}
		m, err := predict.LoadDir(o.Output)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(o.Output, model.SummaryFile)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	local := run("prism")
	portable := run("universal")
	if !strings.Contains(serverLog.String(), "trained ex_") {
		t.Error("the job server's log shows no exercise trained: did the job run there?")
	}
	if len(portable.Thetas) == 0 || !reflect.DeepEqual(local.Thetas, portable.Thetas) {
		t.Errorf("thetas from the job server (%d exercises) differ from the in-process runner's (%d)",
			len(portable.Thetas), len(local.Thetas))
	}
}

// syncBuffer is a buffer a process writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDataflowStreamDryRun translates the streaming pipeline (cmd/kmstream)
// for Dataflow with --dry_run: a streaming job on Streaming Engine, reading
// with Dataflow's own Pub/Sub source, whose steps have the names an
// --update of a running job matches them by.
func TestDataflowStreamDryRun(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "none.json"))
	capture := &logCapture{}
	log.SetLogger(capture)
	t.Cleanup(func() { log.SetLogger(&log.Structural{}) })
	testutil.SetFlags(t, map[string]string{
		"runner":           "dataflow",
		"dry_run":          "true",
		"project":          "khan-prod",
		"region":           "us-central1",
		"staging_location": "gs://khan-dataflow/staging",
		"temp_location":    "gs://khan-dataflow/tmp",
		"job_name":         "kmstream",
		"environment_type": "DOCKER", // not what an earlier test left
	})

	o := pipeline.DefaultStreamOptions()
	o.PubSub.Project, o.PubSub.Native = "khan-prod", true
	o.Model, o.Datastore = "", &transforms.Datastore{Project: "khan-prod"}
	o.Output = "gs://khan-dataflow/live"
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.BuildStream(s, o); err != nil {
		t.Fatal(err)
	}
	if _, err := runners.Run(context.Background(), p); err != nil {
		t.Fatalf("dry run: %v", err)
	}

	var job struct {
		Type        string `json:"type"`
		Environment struct {
			Experiments []string `json:"experiments"`
		} `json:"environment"`
	}
	var graph string
	capture.mu.Lock()
	for _, m := range capture.msgs {
		switch {
		case strings.HasPrefix(m, "{") && strings.Contains(m, `"environment"`):
			if err := json.Unmarshal([]byte(m), &job); err != nil {
				t.Fatalf("job JSON: %v", err)
			}
		case strings.Contains(m, "unique_name:"):
			graph = m
		}
	}
	capture.mu.Unlock()
	if job.Type != "JOB_TYPE_STREAMING" {
		t.Errorf("job type %q, want JOB_TYPE_STREAMING", job.Type)
	}
	for _, e := range []string{"enable_streaming_engine", "enable_windmill_service"} {
		if !slices.Contains(job.Environment.Experiments, e) {
			t.Errorf("experiments %v lack %s", job.Environment.Experiments, e)
		}
	}
	if !strings.Contains(graph, "beam:transform:pubsub_read:v1") ||
		!strings.Contains(graph, "projects/khan-prod/subscriptions/problemlogs-kmstream") {
		t.Error("the job does not read the subscription with Dataflow's Pub/Sub source")
	}
	// The names an update matches steps by: renaming one breaks --update.
	for _, step := range []string{
		"Stream/ReadPubSub",
		"Stream/ParseMessages",
		"Stream/ScoreLive",
		"Stream/WatchWindows",
		"Stream/WriteLive",
		"Stream/WriteDeadLetters",
	} {
		if !strings.Contains(graph, fmt.Sprintf(`unique_name:"%s"`, step)) {
			t.Errorf("the job's pipeline has no step %s", step)
		}
	}
	if t.Failed() {
		t.Logf("job: %+v", job)
		for _, l := range strings.Split(graph, "\n") {
			if strings.Contains(l, "unique_name:") {
				t.Log(strings.TrimSpace(l))
			}
		}
	}
}
