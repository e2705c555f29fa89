//go:build !linux && !darwin

package peer

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"runtime"
)

// systemProc is nil: this system has no /proc that the package reads.
func systemProc() fs.FS { return nil }

// systemLookup fails: finding a connection's client is not implemented
// here.
func systemLookup(_, _ netip.AddrPort) (Process, error) {
	return Process{}, fmt.Errorf("find a connection's client on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
