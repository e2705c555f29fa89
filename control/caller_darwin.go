package control

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerOf asks the kernel for the process at the other end of c.
func peerOf(c *net.UnixConn) (Caller, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Caller{}, false
	}
	var pid int
	var cred *unix.Xucred
	var perr, cerr error
	if err := raw.Control(func(fd uintptr) {
		pid, perr = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		cred, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil || perr != nil || cerr != nil || pid <= 0 {
		return Caller{}, false
	}
	return Caller{PID: pid, UID: int(cred.Uid)}, true
}
