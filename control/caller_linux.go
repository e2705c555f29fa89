package control

import (
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerOf asks the kernel for the process at the other end of c.
func peerOf(c *net.UnixConn) (Caller, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Caller{}, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil || cred.Pid <= 0 {
		return Caller{}, false
	}
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(int(cred.Pid)) + "/exe")
	return Caller{PID: int(cred.Pid), UID: int(cred.Uid), Exe: exe}, true
}
