//go:build unix && !linux

package motoserver

import "syscall"

// setPdeathsig does nothing: only Linux has a parent-death signal. Here a
// moto_server outlives a test binary that is killed (an interrupted or
// timed-out go test); Stop still ends it when the test ends normally.
func setPdeathsig(*syscall.SysProcAttr) {}
