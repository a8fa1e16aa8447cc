package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/psemulator"
	"github.com/kmtrain/knowledgemodel/pipeline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// runStreamBench measures the streaming pipeline on prism: it trains a
// model on synthetic logs (in a child process), publishes the logs to the
// Pub/Sub emulator as attempts happening now (time_done is the time each
// is published), while the streaming pipeline reads them, and watches the
// window files appear. A log's latency is from its publishing to the first
// write of its window's aggregate.
func runStreamBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kmbench stream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logs := fs.Int64("logs", 100000, "number of synthetic ProblemLogs to publish")
	rate := fs.Float64("rate", 0, "logs per second to publish (0: as fast as the emulator takes them)")
	windowSize := fs.Duration("window", 10*time.Second, "length of the streaming pipeline's windows")
	maxDelay := fs.Duration("max_delay", time.Second, "the pulled read's max delay: how far behind the latest time_done the watermark stays")
	readers := fs.Int("readers", 1, "readers pulling in parallel (more than one: each stops after 3s without messages, not at a count)")
	keep := fs.Bool("keep", false, "keep the logs, the model and the stream's output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kmbench-stream-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintf(stderr, "kmbench: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "logs.csv")
	ls, err := liveLogs(path, *logs)
	if err != nil {
		return err
	}
	n := int64(len(ls))
	self, err := os.Executable()
	if err != nil {
		return err
	}
	modelDir := filepath.Join(dir, "model")
	if _, _, err := child(self, "pipeline", "prism", path, modelDir, stderr); err != nil {
		return fmt.Errorf("training the model to score with: %v", err)
	}

	ctx := context.Background()
	name := fmt.Sprintf("kmbench-%d", time.Now().UnixNano())
	c, closeEmulator, err := emulatorSubscription(ctx, name)
	if err != nil {
		return err
	}
	defer closeEmulator()

	out := filepath.Join(dir, "live")
	o := pipeline.DefaultStreamOptions()
	o.PubSub = pubsublogs.ReadOptions{Project: psemulator.Project, Subscription: name, MaxDelay: *maxDelay,
		Readers: *readers, StopAfter: n}
	if *readers > 1 {
		// Which reader gets how many messages is the emulator's choice.
		o.PubSub.StopAfter, o.PubSub.IdleStop = 0, 3*time.Second
	}
	o.Model, o.Output, o.Window, o.Poll, o.Alerts.Drop = modelDir, out, *windowSize, 0, 0
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.BuildStream(s, o); err != nil {
		return err
	}
	runners.Streaming()
	w := &windowWatch{dir: filepath.Join(out, transforms.LiveWindowsDir), seen: map[string]time.Time{}}
	stopWatch := w.start(20 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := beam.Run(ctx, "prism", p)
		done <- err
	}()
	time.Sleep(2 * time.Second) // the job's start is not the stream's work
	stop, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stop()
	began := time.Now()
	if _, err := pubsublogs.Publish(ctx, c, pubsublogs.TopicName(psemulator.Project, name), ls,
		pubsublogs.PublishOptions{IDPrefix: "b", Rate: *rate, Live: true}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "kmbench: published %d logs in %.1fs\n", len(ls), time.Since(began).Seconds())
	if err := <-done; err != nil {
		return err
	}
	secs := time.Since(began).Seconds()
	stopWatch()
	w.poll()

	// A log's latency is from its publishing to its window's first write;
	// a window's lag, from the time its end plus the max delay came (when
	// the watermark can first pass its end) to that write.
	latencies := make([]float64, 0, len(ls))
	var lags []float64
	wms := windowSize.Milliseconds()
	for _, l := range ls {
		ms := l.TimeDone.UnixMilli()
		start := time.UnixMilli(ms - ms%wms)
		label := start.UTC().Format("20060102T150405Z")
		at, ok := w.seen[label]
		if !ok {
			return fmt.Errorf("the window of %s (%s) was never written", l.TimeDone.Format(time.RFC3339Nano), label)
		}
		latencies = append(latencies, at.Sub(l.TimeDone).Seconds())
		if closed := start.Add(*windowSize + *maxDelay); closed.Before(ls[len(ls)-1].TimeDone) {
			lags = append(lags, at.Sub(closed).Seconds()) // windows closed by the watermark, not by the stream's end
		}
	}
	slices.Sort(latencies)
	slices.Sort(lags)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Fprintf(stdout, "stream logs=%d seconds=%.2f logs_per_s=%.0f p50_latency_s=%.2f p99_latency_s=%.2f peak_rss_mb=%.0f\n",
		n, secs, float64(n)/secs, quantile(latencies, 0.5), quantile(latencies, 0.99), float64(ru.Maxrss)/1024)
	if len(lags) > 0 {
		fmt.Fprintf(stdout, "stream after_close logs=%d p50_s=%.2f p99_s=%.2f (window end + max_delay to the aggregate written)\n",
			len(lags), quantile(lags, 0.5), quantile(lags, 0.99))
	}
	return nil
}

// emulatorSubscription starts the Pub/Sub emulator, unless
// PUBSUB_EMULATOR_HOST names one, and makes a topic and a subscription,
// both called name, on it. closeAll closes the client and stops what it
// started.
func emulatorSubscription(ctx context.Context, name string) (c *pubsub.Client, closeAll func(), err error) {
	stop := func() {}
	if os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		e, err := psemulator.Run()
		if err != nil {
			return nil, nil, err
		}
		stop = e.Stop
		os.Setenv("PUBSUB_EMULATOR_HOST", e.Host())
	}
	if c, err = pubsub.NewClient(ctx, psemulator.Project); err != nil {
		stop()
		return nil, nil, err
	}
	if err := pubsublogs.EnsureSubscription(ctx, c, name, name); err != nil {
		c.Close()
		stop()
		return nil, nil, err
	}
	return c, func() { c.Close(); stop() }, nil
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// windowWatch records when each window's file first appears.
type windowWatch struct {
	dir  string
	mu   sync.Mutex
	seen map[string]time.Time // window label -> first seen
}

func (w *windowWatch) start(every time.Duration) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				w.poll()
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

func (w *windowWatch) poll() {
	entries, _ := os.ReadDir(w.dir)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range entries {
		label, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".csv") {
			continue
		}
		if _, ok := w.seen[label]; !ok {
			w.seen[label] = now
		}
	}
}

// liveLogs generates about n synthetic logs into path and returns them in
// the order they happened, students interleaved as in a live stream (the
// file holds each student's logs together).
func liveLogs(path string, n int64) ([]features.ProblemLog, error) {
	if _, err := generate(path, n); err != nil {
		return nil, err
	}
	ls, err := readLogs(path)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ls, func(a, b features.ProblemLog) int { return a.TimeDone.Compare(b.TimeDone) })
	return ls, nil
}

// readLogs reads the generated logs back, in their order.
func readLogs(path string) ([]features.ProblemLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ls []features.ProblemLog
	err = problemlogs.Read(f, path, problemlogs.DefaultColumns, func(line int, l features.ProblemLog, err error) error {
		if err != nil {
			return fmt.Errorf("%s:%d: %v", path, line, err)
		}
		ls = append(ls, l)
		return nil
	})
	return ls, err
}
