//go:build linux

package emulator

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startAndWait starts cmd and waits for it in a goroutine. On Linux the
// emulator also gets SIGKILL if the test binary dies without running its
// cleanups (a panic, a -timeout): the signal is tied to the thread that
// started the process, so that thread stays locked until the process exits.
func startAndWait(cmd *exec.Cmd, done chan struct{}, err *error) error {
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if e := cmd.Start(); e != nil {
			started <- e
			return
		}
		started <- nil
		*err = cmd.Wait()
		close(done)
	}()
	return <-started
}
