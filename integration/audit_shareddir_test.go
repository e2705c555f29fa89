//go:build integration

package integration

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestAuditDirShared: a second daemon of the user, with a state directory
// of its own but the audit directory of one that runs, refuses to start,
// in one line that names the first and how to choose another directory.
// Both wrote audit.log and each rotated it at its own count of the bytes
// it wrote (10 MB), into the other's rotated files. The first serves on,
// and its audit log stays whole (checkAudit, when it stops).
func TestAuditDirShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)
	d.credentials(t, prod)

	second := map[string]string{"BROKERD_STATE_DIR": filepath.Join(filepath.Dir(e.StateDir), "state2")}
	r := e.exec(t, second, "", brokerdBin, "serve", "--listen", "127.0.0.1:0")
	wantOneLineError(t, r, fmt.Sprintf("another brokerd (pid %d) writes its audit log here", d.PID))
	wantOneLineError(t, r, "stop that brokerd, or choose another directory with brokerd serve --audit-dir DIR")
	d.credentials(t, prod)
}
