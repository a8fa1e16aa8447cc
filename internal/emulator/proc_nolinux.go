//go:build !linux

package emulator

import "os/exec"

// startAndWait starts cmd and waits for it in a goroutine.
func startAndWait(cmd *exec.Cmd, done chan struct{}, err *error) error {
	if e := cmd.Start(); e != nil {
		return e
	}
	go func() {
		*err = cmd.Wait()
		close(done)
	}()
	return nil
}
