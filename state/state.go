// Package state provides brokerd's per-user state directory: the endpoint's
// auth token, the running daemon's address, its control socket and lock.
package state

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
)

// File names inside the state directory.
const (
	TokenFile    = "token"
	EndpointFile = "endpoint.json"
	SocketFile   = "control.sock"
	lockFile     = "lock"
)

// DirVar names the state directory, overriding DirPath's choice.
const DirVar = "BROKERD_STATE_DIR"

// ErrNotRunning means no daemon has published its endpoint.
var ErrNotRunning = errors.New("brokerd is not running: start it with `brokerd serve` (or `brokerd install` to run it as a user service)")

// loginRuntimeRoot holds the runtime directory that logind makes for each
// user (/run/user/UID), which the systemd user manager and its services
// take for XDG_RUNTIME_DIR. Tests point it elsewhere.
var loginRuntimeRoot = "/run/user"

// DirPath returns the state directory: $BROKERD_STATE_DIR, else
// $XDG_RUNTIME_DIR/brokerd on Linux, else, when XDG_RUNTIME_DIR is unset
// or not this user's private directory (after su; WSLg's
// /mnt/wslg/runtime-dir, which others may write to), brokerd in
// /run/user/UID when that is this user's private directory, as the
// systemd user manager's services have it, else brokerd-UID in the
// temporary directory (a headless machine; Open refuses it if another
// user made it first); and ~/Library/Application Support/brokerd on macOS.
func DirPath() (string, error) {
	if d := os.Getenv(DirVar); d != "" {
		return filepath.Abs(d)
	}
	if runtime.GOOS == "darwin" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the state directory: %w", err)
		}
		return filepath.Join(home, "Library", "Application Support", "brokerd"), nil
	}
	// A relative XDG_RUNTIME_DIR is invalid (the XDG spec says to ignore
	// it): the token file's path would depend on the working directory.
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) && privateDir(d) {
		return filepath.Join(d, "brokerd"), nil
	}
	if d := filepath.Join(loginRuntimeRoot, strconv.Itoa(os.Getuid())); privateDir(d) {
		return filepath.Join(d, "brokerd"), nil
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("brokerd-%d", os.Getuid())), nil
}

// privateDir reports whether path is a directory of this user that no
// other may write to, as the XDG spec requires of XDG_RUNTIME_DIR.
// Another user's (su keeps the caller's) cannot hold brokerd's directory,
// and in a shared one (/tmp) another user may take its name first.
func privateDir(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Getuid()
}

// Sheltered reports whether no other user can put another directory in
// the place of path: its parent is a directory of this user's or root's
// that no other may write to (as DirPath requires of XDG_RUNTIME_DIR), or
// a sticky one such as /tmp,
// where only the owner of an entry may rename or remove it (and Open
// refuses an entry that another user made). A state directory that some
// file names, rather than BROKERD_STATE_DIR or DirPath, must be sheltered.
func Sheltered(path string) bool {
	fi, err := os.Stat(filepath.Dir(filepath.Clean(path)))
	if err != nil || !fi.IsDir() {
		return false
	}
	if fi.Mode()&os.ModeSticky != 0 {
		return true
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Getuid() || st.Uid == 0
}

// Dir is the state directory.
type Dir struct{ Path string }

// Open returns the state directory at path, creating it 0700 if needed.
// An existing directory must belong to this user; a mode looser than 0700
// is tightened.
func Open(path string) (Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return Dir{}, fmt.Errorf("create state directory: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return Dir{}, fmt.Errorf("check state directory: %w", err)
	}
	if !fi.IsDir() {
		return Dir{}, fmt.Errorf("state directory %s is not a directory: remove it or set BROKERD_STATE_DIR", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return Dir{}, fmt.Errorf("state directory %s belongs to another user: remove it or set BROKERD_STATE_DIR", path)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(path, 0o700); err != nil {
			return Dir{}, fmt.Errorf("make state directory private: %w", err)
		}
	}
	return Dir{Path: path}, nil
}

// Join returns the path of a file in the directory.
func (d Dir) Join(name string) string { return filepath.Join(d.Path, name) }

// Lock takes the directory's lock, so one daemon at a time serves from it.
// The lock lasts until the returned file is closed or the process ends.
// A link or another user's file in its place is refused, not followed.
func (d Dir) Lock() (*os.File, error) {
	f, err := os.OpenFile(d.Join(lockFile), os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link, which brokerd does not follow: remove it", d.Join(lockFile))
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if fi, err := f.Stat(); err != nil || checkOwned(fi) != nil {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file of yours: remove it", d.Join(lockFile))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another brokerd is already running with state directory %s: stop it first (see `brokerd status`)", d.Path)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", d.Path, err)
	}
	return f, nil
}

// checkOwned reports why fi is not a regular file of this user.
func checkOwned(fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", fi.Name())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to another user", fi.Name())
	}
	return nil
}

// ReadFile reads name, refusing anything but a regular file of this user.
func (d Dir) ReadFile(name string) ([]byte, error) {
	fi, err := os.Lstat(d.Join(name))
	if err != nil {
		return nil, err
	}
	if err := checkOwned(fi); err != nil {
		return nil, fmt.Errorf("%w in %s: remove it and restart brokerd", err, d.Path)
	}
	return os.ReadFile(d.Join(name))
}

// WriteFile replaces name with data, mode 0600, atomically.
func (d Dir) WriteFile(name string, data []byte) error {
	f, err := os.CreateTemp(d.Path, "."+name+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), d.Join(name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// NewToken writes a new random auth token (256 bits, hex, no trailing
// newline) to the token file and returns it.
func (d Dir) NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make auth token: %w", err)
	}
	token := hex.EncodeToString(b)
	return token, d.WriteFile(TokenFile, []byte(token))
}

// Endpoint is what a running daemon publishes about itself.
type Endpoint struct {
	URL string `json:"url"` // http://127.0.0.1:PORT
	PID int    `json:"pid"`
}

// CredentialsURL is the container credentials URL for profile; an empty
// profile means the daemon's default.
func (e Endpoint) CredentialsURL(profile string) string {
	u := e.URL + "/v1/credentials"
	if profile != "" {
		u += "/" + url.PathEscape(profile)
	}
	return u
}

// Publish writes the endpoint file.
func (d Dir) Publish(e Endpoint) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return d.WriteFile(EndpointFile, b)
}

// Endpoint reads the endpoint file. It returns ErrNotRunning when there is
// none.
func (d Dir) Endpoint() (Endpoint, error) {
	b, err := d.ReadFile(EndpointFile)
	if errors.Is(err, os.ErrNotExist) {
		return Endpoint{}, ErrNotRunning
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("read endpoint file: %w", err)
	}
	var e Endpoint
	if err := json.Unmarshal(b, &e); err != nil || e.URL == "" {
		return Endpoint{}, fmt.Errorf("endpoint file %s is damaged: restart brokerd", d.Join(EndpointFile))
	}
	return e, nil
}

// Unpublish removes the endpoint and token files, as a daemon does when it stops.
func (d Dir) Unpublish() {
	os.Remove(d.Join(EndpointFile))
	os.Remove(d.Join(TokenFile))
}
