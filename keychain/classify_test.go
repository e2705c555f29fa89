package keychain

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// dialUnix dials path as godbus does for a unix:path= address, and returns
// its error.
func dialUnix(t *testing.T, path string) error {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		c.Close()
		t.Fatalf("net.DialUnix(%q) = nil error, want one", path)
	}
	return err
}

// staleSocket returns the path of a socket file that no one listens on, as
// a bus that ended leaves behind.
func staleSocket(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("listen on %s: %v", path, err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	return path
}

func TestClassify_SessionBusDialErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	tests := []struct {
		name string
		err  error
	}{
		{"missing socket", dialUnix(t, missing)},
		{"stale socket", dialUnix(t, staleSocket(t))},
		{"permission denied", &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: "/run/user/1001/bus", Net: "unix"},
			Err: os.NewSyscallError("connect", syscall.EACCES)}},
		{"abstract socket", &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: "@/tmp/dbus-gone", Net: "unix"},
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
		{"tcp address", &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1},
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
		{"wrapped", fmt.Errorf("connect session bus: %w", dialUnix(t, missing))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if !errors.Is(got, ErrUnavailable) {
				t.Errorf("classify(%q) = %v, want ErrUnavailable", tt.err, got)
			}
			if errors.Is(got, ErrLocked) || errors.Is(got, ErrNotFound) {
				t.Errorf("classify(%q) = %v, want neither ErrLocked nor ErrNotFound", tt.err, got)
			}
			if errors.As(got, new(net.Error)) {
				t.Errorf("classify(%q) = %v, want no net.Error in its chain (it is not the network)", tt.err, got)
			}
			msg := got.Error()
			for _, want := range []string{"DBUS_SESSION_BUS_ADDRESS", "no Secret Service is reachable", tt.err.Error()} {
				if !strings.Contains(msg, want) {
					t.Errorf("classify(%q) = %q, want %q in it", tt.err, msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("classify(%q) = %q, want one line", tt.err, msg)
			}
		})
	}
}

func TestClassify_NotDialErrors(t *testing.T) {
	tests := []struct {
		err  error
		want error // nil: none of the package's errors
	}{
		// A connection to the bus that broke after it was made is not a
		// wrong address.
		{&net.OpError{Op: "read", Net: "unix", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, nil},
		{errors.New("dbus: authentication failed"), ErrUnavailable},
		{errors.New("dbus: couldn't determine address of session bus"), ErrUnavailable},
	}
	for _, tt := range tests {
		got := classify(tt.err)
		for _, sentinel := range []error{ErrLocked, ErrUnavailable, ErrNotFound} {
			if is, want := errors.Is(got, sentinel), sentinel == tt.want; is != want {
				t.Errorf("errors.Is(classify(%q), %v) = %v, want %v", tt.err, sentinel, is, want)
			}
		}
		if errors.Is(got, ErrUnavailable) && strings.Contains(got.Error(), "DBUS_SESSION_BUS_ADDRESS") {
			t.Errorf("classify(%q) = %q, want the Secret Service's fix, not the bus address's", tt.err, got)
		}
	}
}

// TestSystem_StaleSessionBus goes through go-keyring and godbus with a
// DBUS_SESSION_BUS_ADDRESS that names no socket, as an ssh session may
// inherit. It runs in a process of its own: go-keyring's mock, which other
// tests turn on, is a global that cannot be turned off, and godbus keeps
// its session bus connection in a global.
func TestSystem_StaleSessionBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service over D-Bus is the keychain on Linux only")
	}
	if os.Getenv("BROKERD_TEST_STALE_BUS") == "1" {
		_, err := New(System{}).Profiles(t.Context())
		fmt.Printf("errors.Is(err, ErrUnavailable)=%v\n%v\n", errors.Is(err, ErrUnavailable), err)
		return
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "nonexistent")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSystem_StaleSessionBus$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BROKERD_TEST_STALE_BUS=1", "DBUS_SESSION_BUS_ADDRESS="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s with DBUS_SESSION_BUS_ADDRESS=%s: %v\n%s", cmd, addr, err, out)
	}
	for _, want := range []string{"errors.Is(err, ErrUnavailable)=true", "read profile list: no Secret Service is reachable", "DBUS_SESSION_BUS_ADDRESS is stale or wrong"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Profiles() with DBUS_SESSION_BUS_ADDRESS=%s printed:\n%s\nwant %q in it", addr, out, want)
		}
	}
}

func TestExplain_DefaultCollection(t *testing.T) {
	unlockDefault := errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'")
	unlockLogin := errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'")
	tests := []struct {
		name  string
		err   error
		alias string // what ReadAlias("default") names
		aerr  error
		want  error // the package's error classify gives
	}{
		{"deleted or never made", unlockDefault, "/", nil, ErrNoKeyring},
		{"another default, locked", unlockDefault, "/org/freedesktop/secrets/collection/passwords", nil, ErrLocked},
		{"alias unreadable", unlockDefault, "", errors.New("dbus: no reply"), ErrLocked},
		{"login locked", unlockLogin, "/", nil, ErrLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := false
			got := classify(explain(tt.err, func() (string, error) { asked = true; return tt.alias, tt.aerr }))
			for _, sentinel := range []error{ErrNoKeyring, ErrLocked} {
				if is, want := errors.Is(got, sentinel), sentinel == tt.want; is != want {
					t.Errorf("errors.Is(classify(explain(%q)), %v) = %v, want %v", tt.err, sentinel, is, want)
				}
			}
			if tt.want == ErrNoKeyring {
				if !errors.Is(got, ErrUnavailable) || strings.Contains(got.Error(), "locked") || strings.Contains(got.Error(), "\n") {
					t.Errorf("classify(explain(%q)) = %q, want one line, ErrUnavailable, not locked", tt.err, got)
				}
			}
			if asked != (tt.err == unlockDefault) {
				t.Errorf("explain(%q) asked for the default alias: %v", tt.err, asked)
			}
		})
	}
}
