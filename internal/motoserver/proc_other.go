//go:build !unix

package motoserver

import "os/exec"

// configure does nothing: without process groups or a parent-death
// signal, a moto_server outlives a test binary that is killed.
func configure(*exec.Cmd) {}

// terminate kills: there is no SIGTERM to send.
func terminate(cmd *exec.Cmd) { cmd.Process.Kill() }

func kill(cmd *exec.Cmd) { cmd.Process.Kill() }
