package audit_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brokerd/brokerd/audit"
)

// hostileExe is an executable's path that a terminal would act on: CSI as
// the C1 control U+009B (xterm takes it for ESC [), DEL, a right-to-left
// override that shows the rest backwards, a zero-width space, an invisible
// tag character beyond the 16-bit range (written as a surrogate pair).
const hostileExe = "/tmp/\u009b31mred\u009b0m\x7f\u202eexe.gpj\u200b\U000E0041"

// closer is a log file in memory.
type closer struct{ bytes.Buffer }

func (*closer) Close() error { return nil }

// controls reports the first raw character of b that a terminal acts on or
// that reorders what it shows, "" when there is none.
func controls(b []byte) string {
	for _, r := range []string{"\u009b", "\x7f", "\u202e", "\u200b", "\x1b", "\U000E0041"} {
		if bytes.Contains(b, []byte(r)) {
			return r
		}
	}
	return ""
}

// brokerd audit --json, and the log itself (shown with cat, less -R, tail
// -f), hold no character a terminal acts on: encoding/json escapes the
// C0 controls but writes DEL, the C1 controls and bidirectional overrides
// as they are. The strings read back unchanged.
func TestFormat_JSONEscapes(t *testing.T) {
	e := issued("dev")
	e.Time, e.Client.Exe = t0, hostileExe

	var b bytes.Buffer
	if err := audit.Format(&b, []audit.Event{e}, true); err != nil {
		t.Fatal(err)
	}
	if c := controls(b.Bytes()); c != "" {
		t.Errorf("brokerd audit --json wrote %q raw:\n%q", c, b.String())
	}

	// New's writer is Open's, without the rotation.
	var file closer
	l := audit.New(&file, audit.Config{})
	l.Record(e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if c := controls(file.Bytes()); c != "" {
		t.Errorf("the audit log holds %q raw:\n%q", c, file.Bytes())
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, audit.FileName), file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := audit.Read(dir, audit.Filter{Since: t0.Add(-time.Minute)})
	if err != nil || len(got) != 1 || got[0].Client == nil || got[0].Client.Exe != hostileExe {
		t.Errorf("Read = %+v, %v; want the executable %q as recorded", got, err, hostileExe)
	}
}
