// Package runners chooses the Beam runner a pipeline runs on and links in
// the runners and filesystems the project supports.
//
// The runner comes from Beam's --runner flag: "prism" (the default: Beam's
// portable local runner, started in-process) or "direct" (the Go SDK's
// single-process runner that users run their local tests on).
package runners

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	// Filesystems the inputs and outputs may live on.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	// Runners, registered for their side effect.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

// Default is the runner used when --runner is not given.
const Default = "prism"

// Supported lists the runners this package links in.
var Supported = []string{"prism", "direct"}

// Name returns the runner the flags select.
func Name() string {
	if *runners.Runner == "" {
		return Default
	}
	return *runners.Runner
}

// Run runs p on the runner the flags select and returns its result.
func Run(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	name := Name()
	supported := false
	for _, s := range Supported {
		supported = supported || s == name
	}
	if !supported {
		return nil, fmt.Errorf("runner %q is not supported; use one of %v", name, Supported)
	}
	return beam.Run(ctx, name, p)
}
