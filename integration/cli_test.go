//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysAddRefusesMalformedInput checks that `keys add` refuses what is not
// a long-term key pair with one line that does not echo the input, and
// stores nothing.
func TestKeysAddRefusesMalformedInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := randomKeys(t)
	tests := []struct {
		name, profile, stdin, phrase string
	}{
		{"short key id", "dev", "AKIA1234\n" + k.Secret + "\n", "access key id has 8 characters, want 20: AKIA followed by 16 upper-case letters and digits 2-7"},
		{"lowercase key id", "dev", strings.ToLower(k.ID) + "\n" + k.Secret + "\n", "access key id has lower-case letters"},
		{"temporary key id", "dev", "ASIA" + k.ID[4:] + "\n" + k.Secret + "\n", "access key id starts with ASIA: that is a temporary access key from STS, not a long-term key"},
		{"short secret", "dev", k.ID + "\n" + k.Secret[:39] + "\n", "secret access key must be 40 characters of letters, digits, / and +"},
		{"secret with a bad character", "dev", k.ID + "\n" + k.Secret[:39] + "!\n", "secret access key must be 40 characters"},
		{"one line", "dev", k.ID + "\n", "standard input must hold two lines: the access key id, then the secret access key"},
		{"nothing", "dev", "", "standard input must hold two lines"},
		{"invalid profile name", "a/b", k.stdin(), "is not valid: start it with a letter or digit, then use letters, digits and _.@+=-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			profile := e.profile(tt.profile)
			r := e.run(t, tt.stdin, "keys", "add", profile)
			wantOneLineError(t, r, tt.phrase)
			for _, s := range []string{k.ID, k.Secret, k.ID[4:16], k.Secret[:39]} {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("brokerd keys add echoed its input %q: %v", s, r)
				}
			}
			if list := e.mustRun(t, "", "keys", "list"); strings.Contains(list, profile) {
				t.Errorf("brokerd keys list = %q after a refused keys add, want no %s", list, profile)
			}
		})
	}
	t.Run("remove what is not there", func(t *testing.T) {
		r := e.run(t, "", "keys", "remove", e.profile("nokeys"))
		wantOneLineError(t, r, "has no keys in the keychain (see `brokerd keys list`)")
	})
}

// TestServeRefusesNonLoopback checks that serve listens on loopback only.
func TestServeRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, addr := range []string{"0.0.0.0:0", "192.168.1.1:1234", "[::]:0", ":0"} {
		t.Run(addr, func(t *testing.T) {
			r := e.run(t, "", "serve", "--listen", addr)
			wantOneLineError(t, r, "use 127.0.0.1:PORT")
			if _, err := os.Stat(filepath.Join(e.StateDir, "endpoint.json")); err == nil {
				t.Errorf("serve --listen %s published an endpoint", addr)
			}
		})
	}
}

// TestServeRefusesSecondDaemon checks the two ways a second daemon collides
// with a running one: its port, and its state directory.
func TestServeRefusesSecondDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.startDaemon(t)

	t.Run("same port", func(t *testing.T) {
		r := newEnv(t).run(t, "", "serve", "--listen", d.Addr)
		wantOneLineError(t, r, "address "+d.Addr+" is in use: is brokerd already running (`brokerd status`)? Otherwise pick another port with --listen 127.0.0.1:PORT")
	})
	t.Run("same state directory", func(t *testing.T) {
		r := e.run(t, "", "serve", "--listen", "127.0.0.1:0")
		wantOneLineError(t, r, "another brokerd is already running with state directory "+e.StateDir+": stop it first")
	})
	// The first daemon still serves.
	if r := d.get(t, "/healthz", nil); r.status != 200 {
		t.Errorf("GET /healthz after the refused second daemons: %v", r)
	}
}

// TestCommandsWithoutDaemon checks that status says how to start the
// daemon when none runs (env prints its lines all the same: see
// TestEnvWithoutDaemon in shell_test.go).
func TestCommandsWithoutDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{{"status"}, {"status", "--json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := e.run(t, "", args...)
			wantOneLineError(t, r, "brokerd is not running: start it with `brokerd serve`")
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing (eval would run it)", r.stdout)
			}
		})
	}
}
