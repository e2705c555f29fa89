//go:build !linux

package peer

import "time"

// cpuTime runs fn and returns its wall time: on macOS fn's work is lsof's,
// in a process of its own.
func cpuTime(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}
