package runners

import (
	"fmt"
	"strings"
)

// PathFlag is a flag that names files the workers read or write, with the
// value the command runs with.
type PathFlag struct {
	Name, Value string
}

// CheckWorkerPaths refuses, on a runner whose workers are other machines
// (Dataflow), a path flag naming local files: on a worker the output would
// be written to its own disk and lost, and input would not be found there.
// A value may be a comma-separated list; empty entries, gs:// and other
// filesystems' URLs (embed://) pass. On the local runners every path passes.
func CheckWorkerPaths(flags ...PathFlag) error {
	if Name() != "dataflow" {
		return nil
	}
	for _, f := range flags {
		for _, p := range strings.Split(f.Value, ",") {
			if p = strings.TrimSpace(p); p != "" && (!strings.Contains(p, "://") || strings.HasPrefix(p, "file://")) {
				return fmt.Errorf("--%s=%q is a local path: Dataflow workers would use their own disks; give a gs:// path", f.Name, p)
			}
		}
	}
	return nil
}
