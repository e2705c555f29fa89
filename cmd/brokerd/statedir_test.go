package main

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/brokerd/brokerd/deploy"
	"github.com/brokerd/brokerd/state"
)

// TestStatePath checks that every command finds the installed service's
// state directory whatever this shell's XDG_RUNTIME_DIR (WSLg's, which
// others may write to, beside a login's private one), unless
// BROKERD_STATE_DIR says otherwise, and never one where another user could
// put a directory of theirs.
func TestStatePath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the runtime directory is Linux's")
	}
	tmp := t.TempDir()
	mkdir := func(name string, perm os.FileMode) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(d, 0o700); err != nil || os.Chmod(d, perm) != nil {
			t.Fatal(err)
		}
		return d
	}
	runtimeDir := mkdir("run", 0o700)              // a login's, as install saw it
	wslg := mkdir("wslg", 0o770)                   // this shell's, which its group may write to
	open := mkdir("open", 0o777)                   // where no state directory may be
	sticky := mkdir("sticky", os.ModeSticky|0o777) // as /tmp
	tests := []struct {
		name      string
		installed string // the state directory the installed unit names; "" for no install
		env       string // BROKERD_STATE_DIR
		want      string // "" for state.DirPath's choice
	}{
		{"not installed", "", "", ""},
		{"installed from a login shell", filepath.Join(runtimeDir, "brokerd"), "", filepath.Join(runtimeDir, "brokerd")},
		{"installed in the temporary directory", filepath.Join(sticky, "brokerd-0"), "", filepath.Join(sticky, "brokerd-0")},
		{"BROKERD_STATE_DIR wins", filepath.Join(runtimeDir, "brokerd"), "/srv/mine", "/srv/mine"},
		{"installed where others may write", filepath.Join(open, "brokerd"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("XDG_RUNTIME_DIR", wslg)
			t.Setenv("TMPDIR", tmp)
			t.Setenv("BROKERD_STATE_DIR", tt.env)
			if tt.installed != "" {
				unit, err := deploy.SystemdUnit(deploy.Options{GOOS: "linux", Binary: "/usr/local/bin/brokerd", Home: home, StateDir: tt.installed})
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(home, ".config", "systemd", "user", deploy.Unit)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil || os.WriteFile(path, unit, 0o644) != nil {
					t.Fatal(err)
				}
			}
			want := tt.want
			if want == "" {
				var err error
				if want, err = state.DirPath(); err != nil {
					t.Fatal(err)
				}
				if filepath.Dir(want) == wslg {
					t.Fatalf("state.DirPath() = %q, in a directory its group may write to", want)
				}
			}
			got, err := statePath()
			if err != nil || got != want {
				t.Errorf("statePath() with the service installed at %q, BROKERD_STATE_DIR=%q = %q, %v, want %q", tt.installed, tt.env, got, err, want)
			}
		})
	}
}
