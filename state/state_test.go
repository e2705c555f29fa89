package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	runDir := filepath.Join(tmp, "run") // as /run/user/UID: 0700, this user's
	shared := filepath.Join(tmp, "shared")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(shared, 0o700); err != nil || os.Chmod(shared, 0o1777) != nil {
		t.Fatal(err)
	}
	groupWritable := filepath.Join(tmp, "wslg") // as WSLg's /mnt/wslg/runtime-dir
	if err := os.Mkdir(groupWritable, 0o700); err != nil || os.Chmod(groupWritable, 0o770) != nil {
		t.Fatal(err)
	}
	fallback := filepath.Join(tmp, fmt.Sprintf("brokerd-%d", os.Getuid()))
	uid := strconv.Itoa(os.Getuid())
	// Roots of logind's runtime directories (/run/user): none, one whose
	// directory for this user is private, and one whose is not.
	noLogin := filepath.Join(tmp, "no-run-user")
	login := filepath.Join(tmp, "run-user")
	loginOpen := filepath.Join(tmp, "run-user-open")
	for _, d := range []string{login, loginOpen} {
		if err := os.MkdirAll(filepath.Join(d, uid), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(loginOpen, uid), 0o777); err != nil {
		t.Fatal(err)
	}
	type test struct {
		name, stateDir, runtimeDir, loginRoot string
		want                                  string
		linuxOnly                             bool
	}
	tests := []test{
		{"state dir", "/var/lib/me/brokerd", runDir, login, "/var/lib/me/brokerd", false},
		{"relative state dir", "st", "", login, filepath.Join(tmp, "st"), false},
		{"runtime dir", "", runDir, login, filepath.Join(runDir, "brokerd"), true},
		// A headless machine: a per-user directory in the temporary one.
		{"neither", "", "", noLogin, fallback, true},
		// A runtime directory that is not this user's own is not used.
		{"runtime dir writable by all", "", shared, noLogin, fallback, true},
		{"runtime dir writable by the group", "", groupWritable, noLogin, fallback, true},
		{"runtime dir missing", "", filepath.Join(tmp, "gone"), noLogin, fallback, true},
		// Relative, which the XDG spec says to ignore: the token file's
		// path would change with the working directory (tmp).
		{"runtime dir relative", "", "run", noLogin, fallback, true},
		// In its place, logind's for this user, which the systemd user
		// manager gives its services: the CLI and the service agree.
		{"runtime dir writable by the group, logind's", "", groupWritable, login, filepath.Join(login, uid, "brokerd"), true},
		{"no runtime dir, logind's", "", "", login, filepath.Join(login, uid, "brokerd"), true},
		{"runtime dir writable by the group, logind's writable by all", "", groupWritable, loginOpen, fallback, true},
	}
	if os.Getuid() == 0 { // su from another user keeps its runtime directory
		other := filepath.Join(tmp, "other")
		if err := os.Mkdir(other, 0o700); err != nil || os.Chown(other, 65534, 65534) != nil {
			t.Fatal(err)
		}
		otherLogin := filepath.Join(tmp, "run-user-other")
		if err := os.MkdirAll(filepath.Join(otherLogin, uid), 0o700); err != nil || os.Chown(filepath.Join(otherLogin, uid), 65534, 65534) != nil {
			t.Fatal(err)
		}
		tests = append(tests,
			test{"another user's runtime dir", "", other, noLogin, fallback, true},
			test{"another user's runtime dir, logind's", "", other, login, filepath.Join(login, uid, "brokerd"), true},
			test{"another user's runtime dir, logind's another user's", "", other, otherLogin, fallback, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.linuxOnly && runtime.GOOS == "darwin" {
				t.Skip("macOS keeps state under ~/Library")
			}
			t.Setenv("BROKERD_STATE_DIR", tt.stateDir)
			t.Setenv("XDG_RUNTIME_DIR", tt.runtimeDir)
			t.Setenv("TMPDIR", tmp)
			state.SetLoginRuntimeRoot(t, tt.loginRoot)
			got, err := state.DirPath()
			if err != nil || got != tt.want {
				t.Errorf("DirPath() with BROKERD_STATE_DIR=%q XDG_RUNTIME_DIR=%q, %s/UID = %q, %v, want %q", tt.stateDir, tt.runtimeDir, tt.loginRoot, got, err, tt.want)
			}
		})
	}
}

// TestSheltered checks which directories a state directory named by a file
// (the installed service's) may be in: none that another user may write to.
func TestSheltered(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name string, perm os.FileMode) string {
		d := filepath.Join(tmp, name)
		if err := os.Mkdir(d, 0o700); err != nil || os.Chmod(d, perm) != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		parent string
		want   bool
	}{
		{mk("private", 0o700), true},
		{mk("readable", 0o755), true},
		{mk("sticky", os.ModeSticky|0o777), true},
		{mk("group-writable", 0o770), false},
		{mk("world-writable", 0o777), false},
		{filepath.Join(tmp, "gone"), false},
	}
	if os.Getuid() == 0 {
		other := mk("other", 0o700)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			parent string
			want   bool
		}{other, false})
	}
	for _, tt := range tests {
		path := filepath.Join(tt.parent, "brokerd")
		if got := state.Sheltered(path); got != tt.want {
			t.Errorf("Sheltered(%q) = %v, want %v", path, got, tt.want)
		}
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

// plant puts a symbolic link to a file of its own in place of name.
func plant(t *testing.T, d state.Dir, name string) (target string) {
	t.Helper()
	target = filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte(`{"url":"http://127.0.0.1:1","pid":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, d.Join(name)); err != nil {
		t.Fatal(err)
	}
	return target
}

// TestDir_LockRefusesLinks plants a link where the lock goes, as another
// user could have in a directory that was once world-writable: Lock
// refuses it, says what to do, and neither follows nor creates its target.
func TestDir_LockRefusesLinks(t *testing.T) {
	t.Run("link to a file", func(t *testing.T) {
		d := openDir(t)
		target := plant(t, d, "lock")
		before, _ := os.ReadFile(target)
		f, err := d.Lock()
		if err == nil {
			f.Close()
			t.Fatal("Lock() over a symlink = nil error, want a refusal")
		}
		if !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), "remove it") || !strings.Contains(err.Error(), d.Join("lock")) {
			t.Errorf("Lock() over a symlink = %q, want it to name the link and say to remove it", err)
		}
		if after, _ := os.ReadFile(target); !bytes.Equal(after, before) {
			t.Errorf("the link's target changed from %q to %q", before, after)
		}
	})
	t.Run("dangling link", func(t *testing.T) {
		d := openDir(t)
		target := filepath.Join(t.TempDir(), "made-by-brokerd")
		if err := os.Symlink(target, d.Join("lock")); err != nil {
			t.Fatal(err)
		}
		if f, err := d.Lock(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			if f != nil {
				f.Close()
			}
			t.Errorf("Lock() over a dangling symlink = %v, want a refusal", err)
		}
		if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Lock() created the dangling link's target %s (%v)", target, err)
		}
	})
}

// TestDir_LockRefusesOddFiles checks that a lock that is not a regular file
// of this user is refused.
func TestDir_LockRefusesOddFiles(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"named pipe", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}},
		{"another user's file", func(t *testing.T, p string) {
			if os.Getuid() != 0 {
				t.Skip("only root can give a file to another user")
			}
			if err := os.WriteFile(p, nil, 0o666); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openDir(t)
			tt.prepare(t, d.Join("lock"))
			f, err := d.Lock()
			if err == nil {
				f.Close()
				t.Fatalf("Lock() over a %s = nil error, want a refusal", tt.name)
			}
			if !strings.Contains(err.Error(), d.Join("lock")) && !strings.Contains(err.Error(), "lock file") {
				t.Errorf("Lock() over a %s = %q, want it to name the lock file", tt.name, err)
			}
		})
	}
}

// TestDir_ReadRefusesLinks checks that the endpoint and token files are
// read only as regular files of this user: a link planted in their place
// is refused, and writing them replaces the link instead of writing
// through it.
func TestDir_ReadRefusesLinks(t *testing.T) {
	for _, name := range []string{state.EndpointFile, state.TokenFile} {
		t.Run(name, func(t *testing.T) {
			d := openDir(t)
			target := plant(t, d, name)
			before, _ := os.ReadFile(target)
			if b, err := d.ReadFile(name); err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), "remove it") {
				t.Errorf("ReadFile(%q) of a symlink = %q, %v; want a refusal that says to remove it", name, b, err)
			}
			if name == state.EndpointFile {
				if ep, err := d.Endpoint(); err == nil || errors.Is(err, state.ErrNotRunning) {
					t.Errorf("Endpoint() through a symlink = %+v, %v; want a refusal", ep, err)
				}
			}
			if err := d.WriteFile(name, []byte("new")); err != nil {
				t.Fatalf("WriteFile(%q) over a symlink = %v", name, err)
			}
			if after, _ := os.ReadFile(target); !bytes.Equal(after, before) {
				t.Errorf("WriteFile(%q) wrote through the link: target now %q", name, after)
			}
			if fi, err := os.Lstat(d.Join(name)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("after WriteFile(%q): %v, %v; want a regular file in place of the link", name, fi, err)
			}
		})
	}
}

// TestDir_ReadRefusesAnotherUsersFile needs root to make the file.
func TestDir_ReadRefusesAnotherUsersFile(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	d := openDir(t)
	if err := d.Publish(state.Endpoint{URL: "http://127.0.0.1:1", PID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d.Join(state.EndpointFile), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if ep, err := d.Endpoint(); err == nil || !strings.Contains(err.Error(), "another user") {
		t.Errorf("Endpoint() of another user's file = %+v, %v; want a refusal naming another user", ep, err)
	}
}
