package wire_test

import (
	"os/exec"
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
		// Backslashes outside the quotes, which fish reads inside them.
		{`eu-west-1\`, `'eu-west-1'\\''`},
		{`a\'b`, `'a'\\''\''b'`},
	}
	for _, tt := range tests {
		if got := wire.ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestShellQuote_Shells has each shell installed here read quoted values
// back: values of the config file (a region) may hold anything.
func TestShellQuote_Shells(t *testing.T) {
	values := []string{"it's", `a\b`, `ends in \`, `\\`, `\'`, `\';echo INJECTED;echo \'`, `'\''`, "$HOME", "`id`", "a\nb", "=ls", "ü"}
	for _, prog := range []string{"dash", "bash", "zsh", "fish"} {
		t.Run(prog, func(t *testing.T) {
			if _, err := exec.LookPath(prog); err != nil {
				t.Skipf("%s is not installed", prog)
			}
			for _, v := range values {
				out, err := exec.Command(prog, "-c", "printf %s "+wire.ShellQuote(v)).CombinedOutput()
				if string(out) != v || err != nil {
					t.Errorf("%s -c 'printf %%s %s' = %q (%v), want %q", prog, wire.ShellQuote(v), out, err, v)
				}
			}
		})
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
