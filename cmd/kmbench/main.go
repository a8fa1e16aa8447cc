// Command kmbench trains and benchmarks the knowledge model.
//
// Usage:
//
//	kmbench train --rows ROWS.csv[.gz] [--l2 0.001] [--min_rows 1]
//	    [--max_iterations 1000] [--gradient_tolerance 1e-6] [--runs 1] [--workers N]
//	kmbench features --train TRAIN.csv --test TEST.csv [--component_key exercise,correct] [--markdown]
//	    [--configs khan2014,extended,...] [--workers 2] [--min_rows 100] [--max_rows 200000]
//	kmbench pipeline [--logs 1000000] [--runner prism] [--which pipeline,baseline] [--input LOGS.csv]
//	kmbench stream [--logs 100000] [--rate 0] [--window 10s] [--max_delay 1s]
//	kmbench pubsub [--logs 100000]
//	kmbench quality [--assistments ../shared/data/assistments09]
//
// train fits one logistic regression per exercise of a training-rows CSV and
// prints the lines of the reference SciPy trainer
// (shared/anchors/scipy_train.py), so the two can be compared; see
// compare_scipy.sh.
//
// features measures what each feature of the extended set adds: it trains
// on the students of one file and evaluates on those of another, as kmtrain
// --l2=auto --l2_knowledge=best --problem_numbers=all does, with Khan's 107
// features, the extended set, the extended set without each extra feature
// and Khan's features with each extra alone, and prints the pooled AUC and
// log-likelihood of each.
//
// pipeline measures the throughput and peak memory of the whole training
// pipeline on the in-process prism runner against a baseline pipeline that
// moves one element per log through a GroupByKey.
//
// stream measures the streaming pipeline (cmd/kmstream) on prism over the
// Pub/Sub emulator: throughput, and latency from an attempt's publishing
// to its window's aggregate written.
//
// pubsub measures the emulator alone, as the stream's source: publishing,
// then pulling and acknowledging, with nothing else running.
//
// quality trains with each setting of the table that chose the default
// preset, on the embedded sample and on the ASSISTments split, and prints
// the README's table (held-out AUC / log-likelihood of the model and of
// its 6-feature baseline).
package main

import (
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"io"
	"os"
)

func main() {
	// Subcommands parse their own flags; Beam's workers run in-process
	// (prism's loopback environment), so Init has no flags to read.
	beam.Init()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "train":
		if err := runTrain(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench train:", err)
			return 1
		}
		return 0
	case "features":
		if err := runFeatures(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench features:", err)
			return 1
		}
		return 0
	case "pipeline":
		if err := runPipelineBench(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench pipeline:", err)
			return 1
		}
		return 0
	case "stream":
		if err := runStreamBench(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench stream:", err)
			return 1
		}
		return 0
	case "quality":
		if err := runQuality(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench quality:", err)
			return 1
		}
		return 0
	case "pubsub":
		if err := runPubSubBench(args[1:], stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kmbench pubsub:", err)
			return 1
		}
		return 0
	case "pipeline-child": // one measured run, started by "pipeline"
		if err := runPipelineChild(args[1:], stdout); err != nil {
			fmt.Fprintln(stderr, "kmbench pipeline-child:", err)
			return 1
		}
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "kmbench: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: kmbench <command> [flags]

commands:
  train     fit one model per exercise of a training-rows CSV (see kmbench train -h)
  features  ablation of the extended feature set: train on --train, evaluate on
            --test's students, print "features config=NAME auc=A log_likelihood=L
            attempts=N" per configuration (see kmbench features -h)
  pipeline  generate --logs N synthetic logs and time the training pipeline and a
            baseline (one element per log through a GroupByKey), each in its own
            process: prints "pipeline logs=N seconds=S logs_per_s=R peak_rss_mb=M"
            and the same line for the baseline
  stream    publish --logs N synthetic logs to the Pub/Sub emulator (started unless
            PUBSUB_EMULATOR_HOST is set) as attempts happening now, at --rate R, and
            run the streaming pipeline on them: prints "stream logs=N seconds=S
            logs_per_s=R p50_latency_s=A p99_latency_s=B peak_rss_mb=M" (latency: from
            publishing to the first write of the window's aggregate)
  quality   train with each setting of the table that chose the default preset on the
            embedded sample and on --assistments DIR's split; print it as Markdown
  pubsub    the stream's source alone: publish --logs N synthetic logs to the emulator,
            then pull and acknowledge them: prints "pubsub logs=N publish_s=S
            publish_logs_per_s=R pull_s=S pull_logs_per_s=R messages_per_pull=M"
`)
}
