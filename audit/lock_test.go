package audit_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/brokerd/brokerd/audit"
)

// A second Log in a directory another holds (two daemons given one audit
// directory) is refused, naming the holder's process, until the first is
// closed: each would rotate audit.log at its own count of the bytes it
// wrote, into the other's rotated files, which MaxBackups then removes
// under it. The directory removed and made again by the first Log's next
// write is held again.
func TestOpen_DirInUse(t *testing.T) {
	for _, removed := range []bool{false, true} {
		t.Run(fmt.Sprintf("removed=%v", removed), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			first := open(t, dir, audit.Config{})
			if removed {
				first.Record(issued("before"))
				written(t, filepath.Join(dir, audit.FileName))
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				first.Record(issued("after"))
				written(t, filepath.Join(dir, audit.FileName))
			}
			second, err := audit.Open(dir, audit.Config{})
			if err == nil {
				second.Close()
			}
			want := fmt.Sprintf("another brokerd (pid %d) writes its audit log here", os.Getpid())
			if !errors.Is(err, audit.ErrInUse) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Open of a directory held by another Log = %v; want ErrInUse, one line, saying %q", err, want)
			}
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			second, err = audit.Open(dir, audit.Config{})
			if err != nil {
				t.Fatalf("Open once the other Log closed = %v", err)
			}
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOpen_NoLocks checks that a directory on a file system without locks
// (NFS mounted nolock: ENOLCK; some FUSE and SMB mounts: EOPNOTSUPP) is
// written as before locks were taken, not refused: brokerd could not
// start with its audit log there.
func TestOpen_NoLocks(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOLCK, syscall.EOPNOTSUPP} {
		t.Run(errno.Error(), func(t *testing.T) {
			defer audit.SetFlock(func(int, int) error { return errno })()
			dir := filepath.Join(t.TempDir(), "audit")
			l, err := audit.Open(dir, audit.Config{})
			if err != nil {
				t.Fatalf("Open(%q) where flock fails with %v = %v, want no error", dir, errno, err)
			}
			l.Record(issued("before"))
			written(t, filepath.Join(dir, audit.FileName))
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			l.Record(issued("after"))
			written(t, filepath.Join(dir, audit.FileName))
			if err := l.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
		})
	}
}

// TestOpen_DirInUseOnAnotherHost checks that a directory held by a brokerd
// of another machine (a home on NFS that two machines share) names that
// machine: its pid is no process here, and stopping the process of that
// pid here would stop another program. A lock file of an older brokerd,
// its pid alone, names the pid alone.
func TestOpen_DirInUseOnAnotherHost(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"4242 build-host-7\n", "another brokerd (pid 4242 on host build-host-7) writes its audit log here"},
		{"4242\n", "another brokerd (pid 4242) writes its audit log here"},
		{"", "another brokerd writes its audit log here"},
	} {
		dir := t.TempDir()
		f, err := os.OpenFile(filepath.Join(dir, audit.LockName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		f.WriteString(tt.text)
		l, err := audit.Open(dir, audit.Config{})
		if err == nil {
			l.Close()
		}
		if !errors.Is(err, audit.ErrInUse) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open of a directory whose lock file holds %q = %v; want ErrInUse saying %q", tt.text, err, tt.want)
		}
		f.Close()
	}
}
