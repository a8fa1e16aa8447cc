// Package failpoint kills the process at a named point of a run, for the
// tests that check what a run killed there leaves behind.
//
// A point is armed by the environment: KMTRAIN_FAILPOINT=NAME kills the
// process with SIGKILL the first time Hit(NAME) runs, NAME:N the N-th time.
// Unset (always, outside those tests), Hit does nothing but one atomic load.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Env is the environment variable that arms a point.
const Env = "KMTRAIN_FAILPOINT"

var (
	armed = sync.OnceValues(func() (string, int64) {
		name, n, found := strings.Cut(os.Getenv(Env), ":")
		if !found {
			return name, 1
		}
		k, err := strconv.ParseInt(n, 10, 64)
		if err != nil || k < 1 {
			return "", 0 // malformed: nothing is armed
		}
		return name, k
	})
	hits atomic.Int64
)

// Hit marks that the run reached the point name: the process is killed
// here if the point is armed and this is its N-th hit.
func Hit(name string) {
	point, n := armed()
	if point == "" || point != name {
		return
	}
	if hits.Add(1) == n {
		kill()
	}
}
