//go:build !unix

package emulator

import "os/exec"

// startProcess starts cmd and records its exit in *err before closing done.
func startProcess(cmd *exec.Cmd, done chan struct{}, err *error) error {
	return startAndWait(cmd, done, err)
}

// terminate stops the process.
func terminate(cmd *exec.Cmd) { _ = cmd.Process.Kill() }

// kill stops the process.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
