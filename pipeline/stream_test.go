package pipeline_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/psemulator"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/sample"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// sampleLogs reads the embedded sample in time order, as a live stream
// would carry it.
func sampleLogs(t *testing.T) []features.ProblemLog {
	t.Helper()
	ctx := context.Background()
	fs, err := filesystem.New(ctx, sample.ProblemLogs)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, sample.ProblemLogs)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	var logs []features.ProblemLog
	err = problemlogs.Read(zr, sample.ProblemLogs, problemlogs.DefaultColumns, func(_ int, l features.ProblemLog, err error) error {
		logs = append(logs, l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(logs, func(a, b features.ProblemLog) int { return a.TimeDone.Compare(b.TimeDone) })
	return logs
}

// TestStreamMatchesMonitor is the test that says the streaming path is
// right: the embedded sample, published to the Pub/Sub emulator in time
// order with some attempts delivered twice and a malformed message, read by
// the streaming pipeline until idle, gives per (exercise, day) the
// attempts, log-likelihood, AUC and accuracy that batch monitoring gives on
// the same files, to 1e-9; the malformed message is a dead letter.
func TestStreamMatchesMonitor(t *testing.T) {
	e := psemulator.Start(t)
	project := e.Use(t)
	testutil.SetFlags(t, map[string]string{"experiments": *jobopts.Experiments}) // restored after the test
	runners.Streaming()

	model := t.TempDir()
	o := pipeline.DefaultOptions()
	o.Input, o.Output, o.Version = sample.ProblemLogs, model, "v1"
	runPipeline(t, "prism", o)

	mon := t.TempDir()
	mo := pipeline.DefaultMonitorOptions()
	mo.Input, mo.Model, mo.Output = sample.ProblemLogs, model, mon
	if err := runMonitor(t, mo); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := pubsublogs.EnsureSubscription(ctx, c, "problemlogs", "kmstream"); err != nil {
		t.Fatal(err)
	}
	logs := sampleLogs(t)
	if n, err := pubsublogs.Publish(ctx, c, "problemlogs", logs, pubsublogs.PublishOptions{IDPrefix: "s"}); err != nil {
		t.Fatalf("published %d: %v", n, err)
	}
	// Redeliveries of the latest attempts, and a message that is no
	// ProblemLog.
	pub := c.Publisher("problemlogs")
	defer pub.Stop()
	for i := len(logs) - 50; i < len(logs); i++ {
		if _, err := pub.Publish(ctx, pubsublogs.Message(logs[i], "s"+strconv.Itoa(i))).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	bad := &pubsub.Message{Data: []byte(`{"user":"x","time_done":"yesterday"}`),
		Attributes: map[string]string{pubsublogs.IDAttribute: "bad-1", pubsublogs.TimeAttribute: logs[len(logs)-1].TimeDone.Format(time.RFC3339Nano)}}
	if _, err := pub.Publish(ctx, bad).Get(ctx); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	so := pipeline.DefaultStreamOptions()
	so.PubSub.Project, so.PubSub.Subscription = project, "kmstream"
	so.PubSub.IdleStop = 3 * time.Second
	// Pub/Sub delivers out of order; the sample packs a month into a few
	// seconds of publishing, so a day of event time is the disorder to
	// wait for before an attempt is late and applied out of turn.
	so.PubSub.MaxDelay = 24 * time.Hour
	so.Model, so.Output, so.Window, so.Poll = model, out, 24*time.Hour, 0
	so.Predictions = true
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.BuildStream(s, so); err != nil {
		t.Fatal(err)
	}
	if _, err := beam.Run(ctx, "prism", p); err != nil {
		t.Fatal(err)
	}

	_, batch := readMonitorCSV(t, filepath.Join(mon, "monitor.csv"))
	files, err := filepath.Glob(filepath.Join(out, transforms.LiveWindowsDir, "*_v1.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no window files in %s (%v)", out, err)
	}
	streamed := map[string][]string{}
	for _, f := range files {
		_, rows := readMonitorCSV(t, f)
		for _, r := range rows {
			streamed[r[0]+" "+r[1]] = r
		}
	}
	if len(streamed) != len(batch) {
		t.Errorf("stream has %d (day, exercise) rows, batch %d", len(streamed), len(batch))
	}
	for _, b := range batch {
		key := b[0] + " " + b[1]
		got, ok := streamed[key]
		if !ok {
			t.Errorf("%s: in batch, not in the stream", key)
			continue
		}
		for i := 2; i < len(b); i++ {
			if b[i] == got[i] {
				continue
			}
			x, errx := strconv.ParseFloat(b[i], 64)
			y, erry := strconv.ParseFloat(got[i], 64)
			if errx != nil || erry != nil || math.Abs(x-y) > 1e-9 {
				t.Errorf("%s column %d: stream %s, batch %s", key, i, got[i], b[i])
			}
		}
	}

	dead, _ := filepath.Glob(filepath.Join(out, transforms.DeadLetterDir, "*.jsonl"))
	var letters []string
	for _, f := range dead {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var d struct{ ID, Reason string }
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			letters = append(letters, d.ID)
		}
	}
	if fmt.Sprint(letters) != "[bad-1]" {
		t.Errorf("dead letters %v, want [bad-1]", letters)
	}
	// Every attempt scored once, in the predictions, as in the windows.
	preds, _ := filepath.Glob(filepath.Join(out, transforms.PredictionsDir, "*.csv"))
	predicted := 0
	for _, f := range preds {
		_, rows := readMonitorCSV(t, f)
		predicted += len(rows)
	}
	if predicted != len(logs) {
		t.Errorf("%d predictions in %d files, want one per log, %d", predicted, len(preds), len(logs))
	}
	for _, name := range []string{transforms.LiveDashboardFile, transforms.LiveAlertsFile} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestStreamOptionsValidate(t *testing.T) {
	ok := pipeline.DefaultStreamOptions()
	ok.PubSub.Project = "p"
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults with a project: %v", err)
	}
	for _, c := range []struct {
		name string
		set  func(*pipeline.StreamOptions)
		want string
	}{
		{"no window", func(o *pipeline.StreamOptions) { o.Window = 0 }, "whole number of milliseconds"},
		{"under a millisecond", func(o *pipeline.StreamOptions) { o.Window = 500 * time.Microsecond }, "whole number of milliseconds"},
		{"a fraction of a millisecond", func(o *pipeline.StreamOptions) { o.Window = time.Second + time.Microsecond }, "whole number of milliseconds"},
		{"negative lateness", func(o *pipeline.StreamOptions) { o.AllowedLateness = -time.Second }, "must not be negative"},
		{"no output", func(o *pipeline.StreamOptions) { o.Output = " " }, "no output"},
		{"two histories", func(o *pipeline.StreamOptions) {
			o.History, o.HistoryBigQuery = "h.csv", &bqsource.Config{Table: "p.d.t"}
		}, "files or BigQuery, not both"},
	} {
		o := ok
		c.set(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
