package daemon_test

import (
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
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ln, err := daemon.Listen(tt.addr)
			if ln != nil {
				defer ln.Close()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Listen(%q) = %v, want it to listen", tt.addr, err)
				}
				if host, _, _ := net.SplitHostPort(ln.Addr().String()); host != "127.0.0.1" {
					t.Errorf("Listen(%q) listens on %s, want 127.0.0.1", tt.addr, ln.Addr())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Listen(%q) = %v, want one line saying %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}
