package peer

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
)

// procFS reads what os reads, with fewer system calls.
func TestProcFS(t *testing.T) {
	p := systemProc()
	for _, name := range []string{"self/cmdline", "self/mountinfo", "net/tcp"} { // mountinfo: over its first buffer, mostly
		got, err := fs.ReadFile(p, name)
		want, werr := os.ReadFile("/proc/" + name)
		if err != nil || werr != nil || (name != "net/tcp" && !bytes.Equal(got, want)) || len(got) == 0 {
			t.Errorf("ReadFile(%s) = %d bytes, %v; os reads %d bytes, %v", name, len(got), err, len(want), werr)
		}
	}
	f, err := os.Open("/dev/null") // an fd that stays open while both list
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ents, err := fs.ReadDir(p, "self/fd")
	want, werr := os.ReadDir("/proc/self/fd")
	if err != nil || werr != nil {
		t.Fatalf("ReadDir(self/fd) = %v; os: %v", err, werr)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.IsSorted(got) || !slices.Contains(got, "0") || len(got) < len(want)-1 || len(got) > len(want)+1 {
		t.Errorf("ReadDir(self/fd) = %v; os lists %d", got, len(want))
	}
	if _, err := fs.ReadFile(p, "0/stat"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of no process = %v, want fs.ErrNotExist", err)
	}
	if _, err := fs.ReadFile(p, "../etc/passwd"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadFile outside /proc = %v, want fs.ErrInvalid", err)
	}
}
