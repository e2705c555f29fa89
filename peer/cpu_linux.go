package peer

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime runs fn on a thread of its own and returns the CPU time the
// thread spent in it, user and system: what fn cost, however long a loaded
// machine kept it waiting.
func cpuTime(fn func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadTime()
	fn()
	return threadTime() - start
}

func threadTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
