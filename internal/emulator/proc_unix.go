//go:build unix

package emulator

import (
	"os/exec"
	"syscall"
)

// startProcess starts cmd in a process group of its own, so that stopping
// it reaches every process it started, and records its exit in *err before
// closing done.
func startProcess(cmd *exec.Cmd, done chan struct{}, err *error) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	return startAndWait(cmd, done, err)
}

// terminate asks the process group to exit.
func terminate(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

// kill kills the process group.
func kill(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
