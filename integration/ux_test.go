//go:build integration

package integration

import (
	"slices"
	"strings"
	"testing"
)

// TestInstallRefusesBadListenFirst runs `brokerd install` with a --listen
// that no install takes, where no systemd user manager runs: it refuses
// the address, rather than saying to run `brokerd serve --listen` with it
// in a terminal instead, which is refused in turn (0.0.0.0), or to install
// again with it once a user manager runs, which is refused then.
func TestInstallRefusesBadListenFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := newHome(t)
	bin := installedBrokerd(t, home)
	runtime := t.TempDir()
	e.writeConfig(t, "[profile prod]\nregion = eu-west-1\n")
	before := files(t, home)
	for _, tc := range []struct{ listen, phrase string }{
		{"0.0.0.0:9922", `--listen: listen address "0.0.0.0:9922" is not a loopback address`},
		{"127.0.0.1:0", `--listen "127.0.0.1:0": an installed service needs a fixed port`},
	} {
		for _, dry := range []bool{false, true} {
			args := []string{"install", "--listen", tc.listen, "--default-profile", "prod"}
			if dry {
				args = append(args, "--dry-run")
			}
			r := e.exec(t, map[string]string{"HOME": home, "XDG_RUNTIME_DIR": runtime, "DBUS_SESSION_BUS_ADDRESS": ""}, "", bin, args...)
			wantOneLineError(t, r, tc.phrase)
			if strings.Contains(r.stderr, "--listen "+tc.listen+" ") {
				t.Errorf("brokerd %s: %q, want no command advised with --listen %s", strings.Join(args, " "), r.stderr, tc.listen)
			}
			if after := files(t, home); !slices.Equal(after, before) {
				t.Errorf("brokerd %s left %q in HOME, want only %q", strings.Join(args, " "), after, before)
			}
		}
	}
}
