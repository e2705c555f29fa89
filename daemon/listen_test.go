package daemon_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/daemon"
)

func TestListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Another program on [::1] at a port: a client naming localhost may
	// reach it first.
	var busy6 string
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		defer ln.Close()
		busy6 = fmt.Sprintf("127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
	}

	tests := []struct {
		addr    string
		wantErr string // empty: it listens
	}{
		{"127.0.0.1:0", ""},
		{"localhost:0", ""},
		{"0.0.0.0:9911", "not a loopback address"},
		{"192.0.2.1:9911", "not a loopback address"},
		{":9911", "not a loopback address"},
		{"example.com:9911", "not a loopback address"},
		{"[::1]:0", "the one loopback address every AWS SDK accepts"},
		{"127.0.0.2:0", "the one loopback address every AWS SDK accepts"},
		{"127.0.0.1", "want 127.0.0.1:PORT"},
		{"127.0.0.1:80", "port 80 is not supported"},
		{busy.Addr().String(), "is in use"},
	}
	if busy6 != "" {
		tests = append(tests, struct{ addr, wantErr string }{busy6, "held by another program"})
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ln, ln6, err := daemon.Listen(tt.addr)
			if ln != nil {
				defer ln.Close()
			}
			if ln6 != nil {
				defer ln6.Close()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Listen(%q) = %v, want it to listen", tt.addr, err)
				}
				if host, _, _ := net.SplitHostPort(ln.Addr().String()); host != "127.0.0.1" {
					t.Errorf("Listen(%q) listens on %s, want 127.0.0.1", tt.addr, ln.Addr())
				}
				// [::1] too, on the same port, where there is IPv6.
				if ln6 == nil && busy6 != "" {
					t.Errorf("Listen(%q) does not listen on [::1], which this machine has", tt.addr)
				}
				if ln6 != nil && ln6.Addr().String() != fmt.Sprintf("[::1]:%d", ln.Addr().(*net.TCPAddr).Port) {
					t.Errorf("Listen(%q) listens on %s and %s, want [::1] at the same port", tt.addr, ln.Addr(), ln6.Addr())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Listen(%q) = %v, want one line saying %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}
