package peer

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
)

func TestDiagSocket(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			ln, err := net.Listen(network, map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network])
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer ln.Close()
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			client := netip.MustParseAddrPort(c.LocalAddr().String())
			server := netip.MustParseAddrPort(ln.Addr().String())
			s, err := diagSocket(client, server)
			if err != nil || s.inode == 0 || s.uid != os.Getuid() {
				t.Fatalf("diagSocket(%v, %v) = %+v, %v, want the socket's inode and uid %d", client, server, s, err, os.Getuid())
			}
			want, err := findSocket(systemProc(), client, server)
			if err != nil || want != s {
				t.Errorf("diagSocket = %+v, /proc/net says %+v (%v)", s, want, err)
			}
			gone := netip.AddrPortFrom(client.Addr(), 1)
			if _, err := diagSocket(gone, server); !errors.Is(err, ErrNotFound) {
				t.Errorf("diagSocket of no socket = %v, want ErrNotFound", err)
			}
		})
	}
}
