package peer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// systemProc is nil: macOS has no /proc; systemLookup asks lsof.
func systemProc() fs.FS { return nil }

// systemLookup runs lsof to find the process with a socket from client to
// server (tens of milliseconds), then reads its executable and command
// line with sysctl. Without root, lsof sees only this user's processes, so
// another user's client is not found.
func systemLookup(server, client netip.AddrPort) (Process, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "lsof", lsofArgs(client)...).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && len(out) == 0 {
		return Process{}, fmt.Errorf("client %v of %v: %w", client, server, ErrNotFound)
	}
	if err != nil {
		return Process{}, fmt.Errorf("run lsof: %w", err)
	}
	p, err := parseLsof(out, client, server)
	if err != nil {
		return Process{}, err
	}
	if b, err := unix.SysctlRaw("kern.procargs2", p.PID); err == nil {
		p.Exe = parseProcargs(b)
	}
	return p, nil
}
