package wire_test

import (
	"strings"
	"testing"

	"github.com/brokerd/brokerd/wire"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/run/user/1000/brokerd/token", "/run/user/1000/brokerd/token"},
		{"http://127.0.0.1:9911/v1/credentials/a,b", "http://127.0.0.1:9911/v1/credentials/a,b"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"", "''"},
		{"$(rm -rf /)", "'$(rm -rf /)'"},
		{"=ls", "'=ls'"}, // zsh's = expansion
		{"a=ls", "a=ls"},
	}
	for _, tt := range tests {
		if got := wire.ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"127.0.0.1:9911", "127.0.0.1:9911", ""},
		{"localhost:0", "127.0.0.1:0", ""},
		{"127.0.0.1:80", "", "port 80"},
		// What net.Listen reads as port 80 is refused as well.
		{"127.0.0.1:080", "", "port 80"},
		{"127.0.0.1:0080", "", "port 80"},
		{"127.0.0.1:http", "", "port 80"},
		{"127.0.0.1:www", "", `"127.0.0.1:www"`}, // port 80 where /etc/services names it
		{"127.0.0.1:09911", "127.0.0.1:9911", ""},
		{"127.0.0.1:65536", "", "is not a port"},
		{"127.0.0.1:-1", "", "is not a port"},
		{"127.0.0.1:nosuchservice", "", "is not a port"},
		{"0.0.0.0:9911", "", "not a loopback"},
		{"[::1]:9911", "", "use 127.0.0.1:PORT"},
		{"127.0.0.2:9911", "", "use 127.0.0.1:PORT"},
		{"9911", "", "want 127.0.0.1:PORT"},
	}
	for _, tt := range tests {
		got, err := wire.CheckListen(tt.in)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckListen(%q) = %q, %v, want %q and an error containing %q", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AKIAIOSFODNN7EXAMPLE", "AKIA…MPLE"},
		{"short", "…"},
	}
	for _, tt := range tests {
		if got := wire.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
