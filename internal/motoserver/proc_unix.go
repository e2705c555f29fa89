//go:build unix

package motoserver

import (
	"os/exec"
	"syscall"
)

// configure puts moto_server in a process group of its own, so that Stop
// signals whatever it started too, and on Linux has it killed when the
// process that started it dies, even by SIGKILL.
func configure(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
}

func terminate(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
