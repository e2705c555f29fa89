package motoserver

import "syscall"

// setPdeathsig has the kernel SIGKILL moto_server when the thread that
// started it exits: with the test binary, since Go ends a thread only
// with a goroutine that locked it.
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
