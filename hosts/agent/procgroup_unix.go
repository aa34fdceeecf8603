//go:build unix

package agent

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own, so a terminal's SIGINT
// reaches lvsctl alone: lvsctl decides when its agents and ssh sessions end
// (after a rollback, not before).
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup ends cmd and everything it started (ssh's ProxyJump helpers).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
