package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/brokerd/brokerd/peer"
	"github.com/brokerd/brokerd/server"
)

func TestParseSockstat(t *testing.T) {
	b := []byte("sockets: used 68\nTCP: inuse 34 orphan 2 tw 85 alloc 34 mem 109\nUDP: inuse 0 mem 0\n")
	if n, ok := parseSockstat(b); !ok || n != 121 {
		t.Errorf("parseSockstat = %d, %v; want 121 (in use, orphaned, closing)", n, ok)
	}
	if _, ok := parseSockstat([]byte("sockets: used 1\n")); ok {
		t.Errorf("parseSockstat without a TCP line = ok")
	}
}

func TestGuardLookup(t *testing.T) {
	if _, ok := tcpSockets(); !ok {
		t.Skip("no /proc/net/sockstat here")
	}
	called := false
	f := guardLookup(func(local, remote net.Addr) (peer.Process, error) { called = true; return peer.Process{PID: 1}, nil })
	p, err := f(nil, nil)
	if n, _ := tcpSockets(); n <= maxSockets && (!called || err != nil || p.PID != 1) {
		t.Errorf("with %d sockets: lookup called %v, %+v, %v", n, called, p, err)
	} else if n > maxSockets && !errors.Is(err, server.ErrTooBusy) {
		t.Errorf("with %d sockets: %v, want ErrTooBusy", n, err)
	}
}

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
