// Command kmpublish publishes ProblemLogs to a Pub/Sub topic, one message
// per log (its JSON object, with time_done and id attributes) in time_done
// order, for kmstream to read: the embedded sample by default, files, or
// synthetic logs at a given rate. On the emulator (PUBSUB_EMULATOR_HOST
// set) it creates the topic and kmstream's subscription when missing.
//
//	export PUBSUB_EMULATOR_HOST=127.0.0.1:8085
//	go run ./cmd/kmpublish                              # the embedded sample
//	go run ./cmd/kmpublish --synthetic=100000 --rate=5000
//
// On failure kmpublish prints one line, "kmpublish: <the cause>".
package main

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/errline"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/pubsublogs"
	"github.com/kmtrain/knowledgemodel/sample"
	"github.com/kmtrain/knowledgemodel/synth"
)

var (
	project      = flag.String("project", "", "Project of the topic (default: $PUBSUB_PROJECT_ID, else kmtrain-local on the emulator).")
	topic        = flag.String("topic", "problemlogs", "Topic to publish to.")
	subscription = flag.String("subscription", "problemlogs-kmstream", "On the emulator: the subscription created on the topic when missing (kmstream's default).")
	input        = flag.String("input", sample.ProblemLogs, "ProblemLog files (comma-separated, local or gs://, CSV or JSON lines, optionally .gz); the default is the embedded sample.")
	columns      = flag.String("columns", "", "Input column names where they differ from the ProblemLog schema, as field=column pairs.")
	synthetic    = flag.Int("synthetic", 0, "Publish this many synthetic logs (synth's default students) instead of --input.")
	rate         = flag.Float64("rate", 0, "Logs per second (0: as fast as Pub/Sub takes them).")
	idPrefix     = flag.String("id_prefix", "", "Start of each message's id, followed by the log's index (default: the input's name); the same logs published again under it are recognised as redeliveries.")
)

func main() {
	flag.Parse()
	if err := run(context.Background()); err != nil {
		errline.Print(os.Stderr, "kmpublish", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	proj := *project
	if proj == "" {
		proj = os.Getenv("PUBSUB_PROJECT_ID")
	}
	emulator := os.Getenv("PUBSUB_EMULATOR_HOST") != ""
	if proj == "" && emulator {
		proj = "kmtrain-local"
	}
	if proj == "" {
		return fmt.Errorf("no project: give --project (or set PUBSUB_EMULATOR_HOST to publish to the emulator)")
	}
	logs, from, err := load(ctx)
	if err != nil {
		return err
	}
	slices.SortStableFunc(logs, func(a, b features.ProblemLog) int { return a.TimeDone.Compare(b.TimeDone) })
	c, err := pubsub.NewClient(ctx, proj)
	if err != nil {
		return err
	}
	defer c.Close()
	if emulator {
		if err := pubsublogs.EnsureSubscription(ctx, c, *topic, *subscription); err != nil {
			return err
		}
	}
	prefix := *idPrefix
	if prefix == "" {
		prefix = from + ":"
	}
	began := time.Now()
	n, err := pubsublogs.Publish(ctx, c, pubsublogs.TopicName(proj, *topic), logs, pubsublogs.PublishOptions{IDPrefix: prefix, Rate: *rate})
	if err != nil {
		return fmt.Errorf("after %d logs published (later ones in flight may be too): %v", n, err)
	}
	secs := time.Since(began).Seconds()
	fmt.Printf("published %d logs from %s to %s in %.1fs (%.0f logs/s)\n", n, from, pubsublogs.TopicName(proj, *topic), secs, float64(n)/secs)
	return nil
}

// load reads the logs to publish, and names where they come from.
func load(ctx context.Context) ([]features.ProblemLog, string, error) {
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	switch {
	case *synthetic < 0:
		return nil, "", fmt.Errorf("--synthetic=%d: want a positive number of logs", *synthetic)
	case !(*rate >= 0) || math.IsInf(*rate, 1):
		return nil, "", fmt.Errorf("--rate=%v: want logs per second, or 0 for as fast as Pub/Sub takes them", *rate)
	case *synthetic > 0 && (explicit["input"] || explicit["columns"]):
		return nil, "", fmt.Errorf("give --synthetic or --input (with --columns), not both")
	}
	if *synthetic > 0 {
		cfg := synth.DefaultConfig()
		students, err := synth.EstimateStudents(cfg, int64(*synthetic))
		if err != nil {
			return nil, "", err
		}
		cfg.Students = students
		g, err := synth.New(cfg)
		if err != nil {
			return nil, "", err
		}
		var logs []features.ProblemLog
		_, err = g.Generate(func(l features.ProblemLog) error {
			if len(logs) < *synthetic {
				logs = append(logs, l)
			}
			return nil
		})
		return logs, fmt.Sprintf("synthetic-%d", *synthetic), err
	}
	cols, err := problemlogs.ParseColumns(*columns)
	if err != nil {
		return nil, "", err
	}
	var logs []features.ProblemLog
	for _, pattern := range strings.Split(*input, ",") {
		fs, err := filesystem.New(ctx, pattern)
		if err != nil {
			return nil, "", err
		}
		names, err := fs.List(ctx, pattern)
		if err != nil || len(names) == 0 {
			fs.Close()
			return nil, "", fmt.Errorf("--input=%s: no files match (%v)", pattern, err)
		}
		for _, name := range names {
			if logs, err = readFile(ctx, fs, name, cols, logs); err != nil {
				fs.Close()
				return nil, "", err
			}
		}
		fs.Close()
	}
	if len(logs) == 0 {
		return nil, "", fmt.Errorf("--input=%s holds no ProblemLogs", *input)
	}
	return logs, *input, nil
}

// readFile appends the logs of one file; a bad row is reported and skipped.
func readFile(ctx context.Context, fs filesystem.Interface, name string, cols problemlogs.Columns, logs []features.ProblemLog) ([]features.ProblemLog, error) {
	rc, err := fs.OpenRead(ctx, name)
	if err != nil {
		return logs, err
	}
	defer rc.Close()
	var r io.Reader = rc
	if strings.HasSuffix(strings.ToLower(name), ".gz") {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return logs, fmt.Errorf("%s: %v", name, err)
		}
		defer zr.Close()
		r = zr
	}
	bad := 0
	err = problemlogs.Read(r, name, cols, func(line int, l features.ProblemLog, err error) error {
		if err != nil {
			if bad++; bad <= 5 {
				fmt.Fprintf(os.Stderr, "kmpublish: %s:%d: skipped: %v\n", name, line, err)
			}
			return nil
		}
		logs = append(logs, l)
		return nil
	})
	if bad > 5 {
		fmt.Fprintf(os.Stderr, "kmpublish: %s: %d bad rows skipped in all\n", name, bad)
	}
	return logs, err
}
