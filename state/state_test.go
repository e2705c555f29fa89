package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/brokerd/brokerd/state"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func openDir(t *testing.T) state.Dir {
	t.Helper()
	d, err := state.Open(filepath.Join(t.TempDir(), "brokerd"))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	return d
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(path string) error
	}{
		{"missing", func(string) error { return nil }},
		{"missing parents", nil},
		{"existing 0755", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"existing 0777", func(p string) error { os.Mkdir(p, 0o777); return os.Chmod(p, 0o777) }},
		{"existing 0700", func(p string) error { return os.Mkdir(p, 0o700) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "brokerd")
			if tt.prepare == nil {
				path = filepath.Join(t.TempDir(), "run", "user", "brokerd")
			} else if err := tt.prepare(path); err != nil {
				t.Fatal(err)
			}
			d, err := state.Open(path)
			if err != nil {
				t.Fatalf("Open(%q) = %v", path, err)
			}
			if d.Path != path {
				t.Errorf("Open(%q).Path = %q, want %q", path, d.Path, path)
			}
			if m := mode(t, path); m != 0o700 {
				t.Errorf("Open(%q) left mode %v, want 0700", path, m)
			}
		})
	}
}

func TestOpen_NotADirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(file); err == nil {
		t.Errorf("Open(%q) of a file = nil error, want one", file)
	}

	// A symlink could point the state anywhere: refused, not followed.
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open(%q) of a symlink = %v, want a refusal", link, err)
	}
}

func TestDir_WriteFile(t *testing.T) {
	d := openDir(t)
	path := d.Join("endpoint.json")
	if err := os.WriteFile(path, []byte("old, readable by all"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)

	if err := d.WriteFile("endpoint.json", []byte("new")); err != nil {
		t.Fatalf("WriteFile = %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "new" {
		t.Errorf("after WriteFile the file holds %q, %v, want %q", got, err, "new")
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("WriteFile left mode %v, want 0600", m)
	}
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state directory holds %q after WriteFile, want only endpoint.json", names)
	}
}

// TestDir_WriteFileAtomic has readers race writers: a reader sees one whole
// version or the other, never a mix or a short file.
func TestDir_WriteFileAtomic(t *testing.T) {
	d := openDir(t)
	versions := [][]byte{bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 256<<10)}
	if err := d.WriteFile("data", versions[0]); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for range 50 {
				if err := d.WriteFile("data", versions[w]); err != nil {
					t.Errorf("WriteFile = %v", err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 100 {
				got, err := os.ReadFile(d.Join("data"))
				if err != nil {
					t.Errorf("read during WriteFile = %v", err)
					return
				}
				if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					t.Errorf("read during WriteFile = %d bytes of neither version", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestDir_NewToken(t *testing.T) {
	d := openDir(t)
	token, err := d.NewToken()
	if err != nil {
		t.Fatalf("NewToken = %v", err)
	}
	if !hex64.MatchString(token) {
		t.Errorf("NewToken = %q, want 64 hex digits", token)
	}
	got, err := os.ReadFile(d.Join(state.TokenFile))
	if err != nil || string(got) != token {
		t.Errorf("token file holds %q, %v, want exactly %q with no newline", got, err, token)
	}
	if m := mode(t, d.Join(state.TokenFile)); m != 0o600 {
		t.Errorf("token file mode = %v, want 0600", m)
	}
	again, err := d.NewToken()
	if err != nil || again == token {
		t.Errorf("NewToken again = %q, %v, want a different token", again, err)
	}
}

func TestDir_Endpoint(t *testing.T) {
	d := openDir(t)
	if _, err := d.Endpoint(); !errors.Is(err, state.ErrNotRunning) {
		t.Errorf("Endpoint() of an empty directory = %v, want ErrNotRunning", err)
	}

	want := state.Endpoint{URL: "http://127.0.0.1:9911", PID: 4242}
	if err := d.Publish(want); err != nil {
		t.Fatalf("Publish(%+v) = %v", want, err)
	}
	if got, err := d.Endpoint(); err != nil || got != want {
		t.Errorf("Endpoint() = %+v, %v, want %+v", got, err, want)
	}
	if m := mode(t, d.Join(state.EndpointFile)); m != 0o600 {
		t.Errorf("endpoint file mode = %v, want 0600", m)
	}

	if _, err := d.NewToken(); err != nil {
		t.Fatal(err)
	}
	d.Unpublish()
	if _, err := d.Endpoint(); !errors.Is(err, state.ErrNotRunning) {
		t.Errorf("Endpoint() after Unpublish = %v, want ErrNotRunning", err)
	}
	if _, err := os.Stat(d.Join(state.TokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after Unpublish: %v, want it gone", err)
	}
}

func TestDir_EndpointDamaged(t *testing.T) {
	for _, text := range []string{"", "{", `{"pid": 1}`, `{"url": 5}`} {
		d := openDir(t)
		if err := d.WriteFile(state.EndpointFile, []byte(text)); err != nil {
			t.Fatal(err)
		}
		_, err := d.Endpoint()
		if err == nil || errors.Is(err, state.ErrNotRunning) || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("Endpoint() of %q = %v, want a damaged-file error", text, err)
		}
	}
}

func TestEndpoint_CredentialsURL(t *testing.T) {
	e := state.Endpoint{URL: "http://127.0.0.1:9911"}
	tests := []struct{ profile, want string }{
		{"", "http://127.0.0.1:9911/v1/credentials"},
		{"dev", "http://127.0.0.1:9911/v1/credentials/dev"},
	}
	for _, tt := range tests {
		if got := e.CredentialsURL(tt.profile); got != tt.want {
			t.Errorf("CredentialsURL(%q) = %q, want %q", tt.profile, got, tt.want)
		}
	}
}

func TestDir_Lock(t *testing.T) {
	d := openDir(t)
	first, err := d.Lock()
	if err != nil {
		t.Fatalf("Lock() = %v", err)
	}
	second, err := d.Lock()
	if err == nil {
		second.Close()
		t.Fatalf("Lock() while locked = nil error, want one")
	}
	if !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), d.Path) {
		t.Errorf("Lock() while locked = %q, want it to say another brokerd runs with %s", err, d.Path)
	}
	if m := mode(t, d.Join("lock")); m != 0o600 {
		t.Errorf("lock file mode = %v, want 0600", m)
	}

	first.Close()
	third, err := d.Lock()
	if err != nil {
		t.Fatalf("Lock() after the holder closed it = %v", err)
	}
	third.Close()
}

func TestDirPath(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	tests := []struct {
		name, stateDir, runtimeDir string
		want                       string
		linuxOnly                  bool
	}{
		{"state dir", "/var/lib/me/brokerd", "/run/user/1000", "/var/lib/me/brokerd", false},
		{"relative state dir", "st", "", filepath.Join(tmp, "st"), false},
		{"runtime dir", "", "/run/user/1000", "/run/user/1000/brokerd", true},
		// A headless machine: a per-user directory in the temporary one.
		{"neither", "", "", filepath.Join(tmp, fmt.Sprintf("brokerd-%d", os.Getuid())), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.linuxOnly && runtime.GOOS == "darwin" {
				t.Skip("macOS keeps state under ~/Library")
			}
			t.Setenv("BROKERD_STATE_DIR", tt.stateDir)
			t.Setenv("XDG_RUNTIME_DIR", tt.runtimeDir)
			t.Setenv("TMPDIR", tmp)
			got, err := state.DirPath()
			if err != nil || got != tt.want {
				t.Errorf("DirPath() with BROKERD_STATE_DIR=%q XDG_RUNTIME_DIR=%q = %q, %v, want %q", tt.stateDir, tt.runtimeDir, got, err, tt.want)
			}
		})
	}
}

func TestDir_Errors(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Open(filepath.Join(file, "brokerd")); err == nil {
		t.Errorf("Open under a file = nil error, want one")
	}

	gone := state.Dir{Path: filepath.Join(tmp, "gone")}
	if err := gone.WriteFile("token", []byte("x")); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("WriteFile in a missing directory = %v, want an error naming the file", err)
	}
	if _, err := gone.NewToken(); err == nil {
		t.Errorf("NewToken in a missing directory = nil error, want one")
	}
	if err := gone.Publish(state.Endpoint{URL: "http://127.0.0.1:1"}); err == nil {
		t.Errorf("Publish in a missing directory = nil error, want one")
	}
	if _, err := gone.Lock(); err == nil {
		t.Errorf("Lock in a missing directory = nil error, want one")
	}

	d := openDir(t)
	if err := os.Mkdir(d.Join(state.EndpointFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Endpoint(); err == nil || errors.Is(err, state.ErrNotRunning) {
		t.Errorf("Endpoint() of an unreadable endpoint file = %v, want a read error", err)
	}
	if err := d.WriteFile(state.EndpointFile, []byte("{}")); err == nil {
		t.Errorf("WriteFile over a directory = nil error, want one")
	}
}
