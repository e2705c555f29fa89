package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/tokens"
)

// The token file holds the token alone, readable as the container's user
// needs.
func TestWriteToken(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		reader int
		mode   os.FileMode
	}{
		{0, 0o600},
		{os.Getuid(), 0o600},
		{-1, 0o644},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, string(rune('a'+i)))
		if _, err := writeToken(path, "bdc_secret", tt.reader); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		b, _ := os.ReadFile(path)
		if fi.Mode().Perm() != tt.mode || string(b) != "bdc_secret" {
			t.Errorf("writeToken(reader %d): mode %v, %q; want %v and the token without a newline", tt.reader, fi.Mode().Perm(), b, tt.mode)
		}
	}
	// Another uid: chowned when this process may (root), else 0644.
	path := filepath.Join(dir, "other")
	note, err := writeToken(path, "bdc_secret", 4242)
	fi, _ := os.Stat(path)
	if err != nil || note == "" || (fi.Mode().Perm() != 0o600 && fi.Mode().Perm() != 0o644) {
		t.Errorf("writeToken(reader 4242) = %q, %v, mode %v", note, err, fi.Mode().Perm())
	}
	if _, err := writeToken(path, "x", 0); err == nil {
		t.Errorf("writeToken over an existing file succeeded")
	}
}

// Tokens issued and revoked at once each get their directory: one call's
// removal of forgotten directories does not take another's, not yet named.
func TestContainers_IssueConcurrently(t *testing.T) {
	w := newWorld(t)
	store, err := tokens.Open(tokens.Config{File: w.state.Join(TokensFile)})
	if err != nil {
		t.Fatal(err)
	}
	c := &containers{svc: newTestService(t, w, nil), tokens: store, state: w.state, log: zap.NewNop()}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 8 {
		wg.Go(func() {
			for range 25 {
				tok, err := c.IssueToken(t.Context(), control.TokenRequest{Label: "race", Profiles: []string{"prod"}, CIDFile: true})
				if err != nil {
					errs <- err
					continue
				}
				if _, err := c.RevokeTokens(t.Context(), control.RevokeRequest{Match: tok.ID}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("IssueToken or RevokeTokens alongside others: %v", err)
	}
}

// A token is not made for a profile that neither the config file nor the
// keychain has: the container would only fail at its first request.
func TestContainers_IssueRefusesUnknownProfiles(t *testing.T) {
	w := newWorld(t)
	store, err := tokens.Open(tokens.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := &containers{svc: newTestService(t, w, nil), tokens: store, state: w.state, log: zap.NewNop()}
	for _, profiles := range [][]string{{"nope"}, {"prod", "nope"}} {
		_, err := c.IssueToken(t.Context(), control.TokenRequest{Label: "web", Profiles: profiles})
		if fault.KindOf(err) != fault.NotFound || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("IssueToken(%q) = %v, want NotFound naming nope", profiles, err)
		}
	}
	if got := store.List(); len(got) != 0 {
		t.Errorf("tokens made: %+v, want none", got)
	}
	if _, err := c.IssueToken(t.Context(), control.TokenRequest{Label: "web", Profiles: []string{"prod"}}); err != nil {
		t.Errorf("IssueToken(prod) = %v", err)
	}
}

// TestListenUnix_pathTooLong checks that a state directory too deep for a
// Unix socket gets a line that says what to do, not bind's "invalid
// argument".
// The longest path it takes is one byte short of the socket address's
// room: the path ends with a NUL there.
func TestListenUnix_pathTooLong(t *testing.T) {
	dir := t.TempDir()
	// A path of n bytes in a directory under dir.
	pathOf := func(n int) string {
		pad := n - len(dir) - len("//control.sock")
		if pad < 1 || pad > 255 {
			t.Skipf("the temporary directory %s leaves no room for a %d-byte path", dir, n)
		}
		sub := filepath.Join(dir, strings.Repeat("d", pad))
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(sub, "control.sock")
	}
	room := len(syscall.RawSockaddrUnix{}.Path) // 108 on Linux, 104 on macOS
	for _, n := range []int{room + 1, room} {
		path := pathOf(n)
		ln, err := listenUnix(path, "control socket")
		if err == nil {
			ln.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "set BROKERD_STATE_DIR to a shorter directory") || strings.Contains(err.Error(), "invalid argument") {
			t.Errorf("listenUnix(%d bytes) = %v, want an error that says to shorten BROKERD_STATE_DIR", len(path), err)
		}
	}
	path := pathOf(room - 1)
	ln, err := listenUnix(path, "control socket")
	if err != nil {
		t.Fatalf("listenUnix(%d bytes) = %v, want it to listen", len(path), err)
	}
	ln.Close()
}
