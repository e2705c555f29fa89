package audit_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/brokerd/brokerd/audit"
)

// Open refuses an audit.log that is not a regular file, and leaves it as
// it is: through a symbolic link it changed the mode of the file linked
// to (as root, ln -s /dev/null audit.log made /dev/null 0600) and wrote
// there, and opening a named pipe waited for a reader for ever.
func TestOpen_NotAFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(t *testing.T, name string) (check func())
	}{
		{"symlink", func(t *testing.T, name string) func() {
			target := filepath.Join(t.TempDir(), "elsewhere")
			if err := os.WriteFile(target, []byte("keep\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, name); err != nil {
				t.Fatal(err)
			}
			return func() {
				if m := mode(t, target); m != 0o644 {
					t.Errorf("mode of the file linked to = %v, want 0644 as it was", m)
				}
				if b, _ := os.ReadFile(target); string(b) != "keep\n" {
					t.Errorf("the file linked to holds %q, want %q", b, "keep\n")
				}
			}
		}},
		{"fifo", func(t *testing.T, name string) func() {
			if err := syscall.Mkfifo(name, 0o600); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}},
		{"directory", func(t *testing.T, name string) func() {
			if err := os.Mkdir(name, 0o700); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			check := tt.make(t, filepath.Join(dir, audit.FileName))
			l, err := audit.Open(dir, audit.Config{})
			if err == nil {
				l.Record(issued("dev"))
				l.Close()
				t.Errorf("Open with audit.log a %s = nil error, want one", tt.name)
			} else if !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Open with audit.log a %s = %v, want it to say it is not a regular file", tt.name, err)
			}
			check()
		})
	}
}
