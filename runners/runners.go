// Package runners chooses the Beam runner a pipeline runs on and links in
// the runners and filesystems the project supports.
//
// The runner comes from Beam's --runner flag:
//
//   - "prism" (the default): Beam's portable local runner, started in-process;
//   - "direct": the Go SDK's single-process runner;
//   - "dataflow": Google Cloud Dataflow, with Beam's Dataflow flags (--project,
//     --region, --staging_location, --temp_location, --worker_machine_type,
//     --max_num_workers, --service_account_email, --network, --subnetwork,
//     --labels, ...; --dry_run prints the job instead of submitting it);
//   - "universal": any portable job server (Flink, Spark, a standalone prism)
//     at --endpoint, e.g. with --environment_type=LOOPBACK.
//
// On Dataflow the workers run a Linux binary of the pipeline. Beam builds
// one with `go build` unless --worker_binary names one; where there is no Go
// toolchain (the Flex Template launcher) that fails, so Run defaults
// --worker_binary to the running executable when it can serve as the worker
// itself: linux/amd64 and built with CGO_ENABLED=0 (cgo binaries hang on
// Dataflow workers).
package runners

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	// Filesystems the inputs and outputs may live on.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	// Runners, registered for their side effect.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

// Default is the runner used when --runner is not given.
const Default = "prism"

// Supported lists the runners this package links in.
var Supported = []string{"prism", "direct", "dataflow", "universal"}

// aliases are the other names Beam registers the supported runners under
// (launchers such as Dataflow's pass the Java-style ones).
var aliases = map[string]string{
	"PrismRunner":    "prism",
	"DirectRunner":   "direct",
	"DataflowRunner": "dataflow",
	"PortableRunner": "universal",
	"portable":       "universal",
}

// Name returns the runner the flags select, by its short name.
func Name() string {
	name := *runners.Runner
	if name == "" {
		return Default
	}
	if short, ok := aliases[name]; ok {
		return short
	}
	return name
}

// InFlexTemplateLauncher reports whether the process runs in a Dataflow
// Flex Template launcher container (whose image sets
// FLEX_TEMPLATE_GO_BINARY).
func InFlexTemplateLauncher() bool { return os.Getenv("FLEX_TEMPLATE_GO_BINARY") != "" }

// Run runs p on the runner the flags select and returns its result.
func Run(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	name := Name()
	if !slices.Contains(Supported, name) {
		return nil, fmt.Errorf("runner %q is not supported; use one of %v", name, Supported)
	}
	if name == "dataflow" {
		if err := defaultWorkerBinary(ctx); err != nil {
			return nil, err
		}
		// The launcher is there to submit the job, not to wait for it.
		if InFlexTemplateLauncher() && !flagSet("async") && !flagSet("execute_async") {
			*jobopts.Async = true
		}
	}
	return beam.Run(ctx, name, p)
}

// Detached says why a run that returned without error has not produced its
// output yet: a Dataflow --dry_run printed the job instead of submitting it,
// or the job was submitted without waiting (--async, and always in the Flex
// Template launcher), in which case submitted is true. It returns "" when
// the run ran to its end.
func Detached() (why string, submitted bool) {
	if Name() != "dataflow" {
		return "", false
	}
	if f := flag.Lookup("dry_run"); f != nil && f.Value.String() == "true" {
		return "dry run: the Dataflow job is printed above; nothing was submitted", false
	}
	if *jobopts.Async {
		return "submitted to Dataflow without waiting for the job", true
	}
	return "", false
}

// flagSet reports whether a flag was given on the command line.
func flagSet(name string) (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// defaultWorkerBinary sets --worker_binary to the running executable when it
// is empty and the executable can run on Dataflow's workers.
func defaultWorkerBinary(ctx context.Context) error {
	if *jobopts.WorkerBinary != "" {
		return nil
	}
	worker, why := SelfWorker()
	if worker != "" {
		*jobopts.WorkerBinary = worker
		log.Infof(ctx, "worker binary: this executable, %s", worker)
		return nil
	}
	if _, err := exec.LookPath("go"); err == nil {
		log.Infof(ctx, "worker binary: Beam builds one with go build (this executable: %s)", why)
		return nil
	}
	return fmt.Errorf("no worker binary for Dataflow: this executable %s, and there is no Go toolchain to build one; "+
		"build kmtrain with CGO_ENABLED=0 GOOS=linux GOARCH=amd64 or pass --worker_binary", why)
}

// SelfWorker returns the path of the running executable if it can serve as
// a Dataflow worker binary (linux/amd64, built without cgo), or else why not.
func SelfWorker() (path, whyNot string) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "", fmt.Sprintf("is %s/%s, not linux/amd64", runtime.GOOS, runtime.GOARCH)
	}
	if cgo, known := builtWithCgo(); cgo || !known {
		if !known {
			return "", "does not say whether it was built with cgo"
		}
		return "", "was built with cgo (CGO_ENABLED=1)"
	}
	exe, err := os.Executable()
	if err != nil {
		return "", errors.Join(errors.New("cannot be found"), err).Error()
	}
	return exe, ""
}

// builtWithCgo reports the CGO_ENABLED setting the executable was built with.
func builtWithCgo() (cgo, known bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false, false
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1", true
		}
	}
	return false, false
}

// PrismStreamingExperiment turns off prism's splitting of slow bundles: in
// Beam v2.77.0 prism also splits bundles that hold timers, and loses their
// watermark holds (https://github.com/apache/beam/issues/35771), so a
// student's scores could arrive behind the watermark. A streaming
// pipeline's readers checkpoint themselves and need no splits.
const PrismStreamingExperiment = "prism_disable_sdf_split"

// Streaming sets the flags a streaming pipeline needs on the runner the
// flags select: on prism, PrismStreamingExperiment.
func Streaming() {
	if Name() != "prism" || slices.Contains(jobopts.GetExperiments(), PrismStreamingExperiment) {
		return
	}
	*jobopts.Experiments = strings.Trim(*jobopts.Experiments+","+PrismStreamingExperiment, ",")
}
