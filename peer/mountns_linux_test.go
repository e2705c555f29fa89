//go:build linux

package peer_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/peer"
)

// A client in another mount namespace (a container run with the host's
// network, a toolbox) is found with its namespace, since its executable's
// path is one in the container's files: the audit showed it as a program
// of the host's. One in this process's namespace has none.
func TestLookup_OtherMountNamespace(t *testing.T) {
	if err := exec.Command("unshare", "--mount", "true").Run(); err != nil {
		t.Skipf("unshare --mount: %v (needs CAP_SYS_ADMIN)", err)
	}
	for _, tt := range []struct {
		name    string
		argv    []string
		otherNS bool
	}{
		{"own", []string{os.Args[0], "-test.run=^$"}, false},
		{"other", []string{"unshare", "--mount", os.Args[0], "-test.run=^$"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, cmd := dialingChild(t, tt.argv...)
			got, err := peer.New(peer.Config{}).Lookup(c.LocalAddr(), c.RemoteAddr())
			if err != nil || got.PID != cmd.Process.Pid || (got.MountNS != "") != tt.otherNS || (tt.otherNS && !strings.HasPrefix(got.MountNS, "mnt:[")) {
				t.Errorf("Lookup of a client in the %s mount namespace = %+v, %v; want pid %d, MountNS set: %v", tt.name, got, err, cmd.Process.Pid, tt.otherNS)
			}
		})
	}
}
