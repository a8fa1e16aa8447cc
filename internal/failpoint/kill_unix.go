//go:build unix

package failpoint

import "syscall"

// kill kills the process at once, as an operator's kill -9 or an OOM kill
// would: no deferred function, no flush, no exit handler runs.
func kill() {
	syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
	select {} // the signal is delivered asynchronously
}
