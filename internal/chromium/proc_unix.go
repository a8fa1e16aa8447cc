//go:build unix

package chromium

import (
	"os/exec"
	"syscall"
)

// setGroup makes cmd the leader of a new process group, so that killGroup
// reaches the renderer, GPU and zygote processes it starts.
func setGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// killGroup kills cmd's process group; processes already gone are ignored.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
