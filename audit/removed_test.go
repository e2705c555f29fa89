package audit_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/brokerd/brokerd/audit"
)

// written waits until the file name holds something: the writer works
// apart from Record.
func written(t *testing.T, name string) {
	t.Helper()
	for {
		if fi, err := os.Stat(name); err == nil && fi.Size() > 0 {
			return
		}
		runtime.Gosched()
	}
}

// A log file removed while the daemon runs (rm audit.log, or the whole
// directory, to clear it) is started again, 0600 in a 0700 directory, at
// the next write; the events were written to the removed file, which no
// one can read, until the next rotation at 10 MB.
func TestLog_FileRemoved(t *testing.T) {
	for _, tt := range []struct {
		name   string
		remove func(dir string) error
	}{
		{"file", func(dir string) error { return os.Remove(filepath.Join(dir, audit.FileName)) }},
		{"directory", os.RemoveAll},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			l := open(t, dir, audit.Config{})
			l.Record(issued("before"))
			written(t, filepath.Join(dir, audit.FileName))
			if err := tt.remove(dir); err != nil {
				t.Fatal(err)
			}
			l.Record(issued("after"))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := audit.Read(dir, audit.Filter{})
			if err != nil || len(got) != 1 || got[0].Profile != "after" {
				t.Fatalf("Read after the log's %s was removed = %v, %v; want the event recorded since", tt.name, got, err)
			}
			if m := mode(t, dir); m != 0o700 {
				t.Errorf("directory mode = %v, want 0700", m)
			}
			if m := mode(t, filepath.Join(dir, audit.FileName)); m != 0o600 {
				t.Errorf("file mode = %v, want 0600", m)
			}
		})
	}
}
