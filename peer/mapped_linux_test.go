//go:build linux

package peer_test

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brokerd/brokerd/peer"
)

// dialMapped connects to the IPv4 address of l from an IPv6 socket, at
// the IPv4-mapped address (::ffff:127.0.0.1), as Java does by default,
// and returns the accepted end.
func dialMapped(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6 sockets: %v", err)
	}
	sa := &unix.SockaddrInet6{Port: l.Addr().(*net.TCPAddr).Port}
	copy(sa.Addr[:], net.ParseIP("::ffff:127.0.0.1").To16())
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		t.Skipf("connect to ::ffff:127.0.0.1: %v", err)
	}
	f := os.NewFile(uintptr(fd), "mapped")
	t.Cleanup(func() { f.Close() })
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A client whose socket is IPv6 connecting to the endpoint's IPv4 address
// through the IPv4-mapped address (a Java program, whose sockets are IPv6
// unless java.net.preferIPv4Stack is set) is found, though sock_diag is
// asked for an IPv4 socket: the kernel finds such a socket by its IPv4
// addresses.
func TestLookup_MappedClient(t *testing.T) {
	c := dialMapped(t, listen(t, "tcp4"))
	got, err := peer.New(peer.Config{}).Lookup(c.LocalAddr(), c.RemoteAddr())
	if err != nil || got.PID != os.Getpid() || got.Exe != executable(t) {
		t.Errorf("Lookup(%v, %v) of a client at ::ffff:127.0.0.1 = %+v, %v; want pid %d, exe %s",
			c.LocalAddr(), c.RemoteAddr(), got, err, os.Getpid(), executable(t))
	}
}
