package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

// namesDaemon answers Names with names; any other call panics, Status
// among them: a daemon's status reads the keychain.
type namesDaemon struct {
	control.Service
	names control.Names
}

var _ control.Service = namesDaemon{}

func (d namesDaemon) Names(context.Context) (control.Names, error) { return d.names, nil }

// completionWorld points the CLI at a config file with dev, prod and the
// sso-session my-sso, and at a state directory that does not exist.
func completionWorld(t *testing.T) (stateDir string) {
	t.Helper()
	short, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	config := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(config, []byte("[profile dev]\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n"+
		"[profile bad name]\n[sso-session my-sso]\nsso_start_url = https://my-sso.awsapps.com/start\nsso_region = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_CONFIG_FILE", config)
	stateDir = filepath.Join(short, "s")
	t.Setenv("BROKERD_STATE_DIR", stateDir)
	return stateDir
}

// serveControl serves h on the control socket of a state directory made
// at path, as a daemon does.
func serveControl(t *testing.T, path string, h http.Handler) {
	t.Helper()
	dir, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestProfileNames checks where completion takes names from: the running
// daemon, else (none, or one older than /v1/names) the config file; never
// the daemon's status, which reads the keychain, and never creating the
// state directory.
func TestProfileNames(t *testing.T) {
	fromDaemon := control.Names{Profiles: []string{"ci", "dev", "prod"}, SSOSessions: []string{"corp"}}
	tests := []struct {
		name     string
		daemon   http.Handler // nil: none runs
		prefix   string
		sessions bool
		want     []string
	}{
		{"no daemon", nil, "", false, []string{"dev", "prod"}},
		{"no daemon, sessions", nil, "", true, []string{"dev", "my-sso", "prod"}},
		{"no daemon, prefix", nil, "p", true, []string{"prod"}},
		{"daemon", control.Handler(namesDaemon{names: fromDaemon}, zap.NewNop()), "", false, []string{"ci", "dev", "prod"}},
		{"daemon, sessions", control.Handler(namesDaemon{names: fromDaemon}, zap.NewNop()), "c", true, []string{"ci", "corp"}},
		{"older daemon", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/names" {
				t.Errorf("completion asked an older daemon for %s, want only /v1/names", r.URL.Path)
			}
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"code":"NotFound","message":"the running brokerd has no /v1/names"}`))
		}), "", true, []string{"dev", "my-sso", "prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := completionWorld(t)
			if tt.daemon != nil {
				serveControl(t, dir, tt.daemon)
			}
			if got := profileNames(t.Context(), tt.prefix, tt.sessions); !slices.Equal(got, tt.want) {
				t.Errorf("profileNames(%q, %v) = %q, want %q", tt.prefix, tt.sessions, got, tt.want)
			}
			if _, err := os.Stat(dir); tt.daemon == nil && !os.IsNotExist(err) {
				t.Errorf("profileNames() without a daemon: the state directory %s exists (%v), want it not created", dir, err)
			}
		})
	}
}

// TestProfileNames_NotAnotherUsersDirectory checks that a state directory
// others may enter is not asked: its socket may not be this user's daemon.
func TestProfileNames_NotAnotherUsersDirectory(t *testing.T) {
	dir := completionWorld(t)
	serveControl(t, dir, control.Handler(namesDaemon{names: control.Names{Profiles: []string{"planted"}}}, zap.NewNop()))
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := profileNames(t.Context(), "", false), []string{"dev", "prod"}; !slices.Equal(got, want) {
		t.Errorf("profileNames() with a state directory of mode 0755 = %q, want the config file's %q", got, want)
	}
}

// TestComplete_NoKeychain runs a TAB after `brokerd login ` as the shell
// does, with the Secret Service's bus a socket that counts connections:
// completion must not open one (a locked keychain's read shows an unlock
// prompt), nor create the state directory.
func TestComplete_NoKeychain(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service is Linux's")
	}
	dir := completionWorld(t)
	bus := filepath.Join(filepath.Dir(dir), "bus")
	ln, err := net.Listen("unix", bus)
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+bus)

	for _, args := range [][]string{{"__complete", "login", ""}, {"__complete", "serve", "--default-profile", "p"}} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr); err != nil {
			t.Fatalf("brokerd %s = %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		want := "dev\nmy-sso\nprod\n:4\n"
		if args[1] == "serve" {
			want = "prod\n:4\n"
		}
		if !strings.HasPrefix(stdout.String(), want) {
			t.Errorf("brokerd %s printed %q, want %q first", strings.Join(args, " "), stdout.String(), want)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("completion connected to the session bus %d times, want none: it read the keychain", n)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("completion without a daemon: the state directory %s exists (%v), want it not created", dir, err)
	}
}
