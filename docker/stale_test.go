package docker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// relayAnswers answers docker commands by their longest matching prefix,
// as docker_test's fakeDocker does, for tests inside the package (procRoot).
type relayAnswers struct {
	answers map[string]string
	calls   []string
}

func (f *relayAnswers) Docker(_ context.Context, args ...string) ([]byte, error) {
	call := strings.Join(args, " ")
	f.calls = append(f.calls, call)
	best := ""
	for k := range f.answers {
		if strings.HasPrefix(call, k) && len(k) > len(best) {
			best = k
		}
	}
	return []byte(f.answers[best]), nil
}

var _ Runner = (*relayAnswers)(nil)

// A running relay that sees a relay directory since removed (the state
// directory made anew) is restarted: it would never reach the daemon.
func TestStartRelay(t *testing.T) {
	host := filepath.Join(t.TempDir(), "relay")
	os.Mkdir(host, 0o700)
	procRoot = t.TempDir()
	t.Cleanup(func() { procRoot = "/proc" })
	seen := filepath.Join(procRoot, "42", "root", SocketDir)
	os.MkdirAll(filepath.Dir(seen), 0o700)
	running := `brokerd-relay:abc|true|running|0:0|[]|` + host + `:/run/brokerd,|brokerd=169.254.170.2,`
	tests := []struct {
		name, inspect string
		removed       bool // the relay sees another directory than host
		did           string
	}{
		{"running", running, false, ""},
		{"removed directory", running, true, "restarted"},
		{"another state directory", strings.Replace(running, host+":", "/elsewhere:", 1), true, ""},
		{"stopped", strings.Replace(running, "|true|running|", "|false|exited|", 1), false, "started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(seen)
			if tt.removed {
				os.Mkdir(seen, 0o700)
			} else {
				os.Symlink(host, seen)
			}
			f := &relayAnswers{answers: map[string]string{"container inspect": tt.inspect, "container inspect --format {{.State.Pid}}": "42\n"}}
			did, err := StartRelay(context.Background(), f, host)
			restarted := slices.Contains(f.calls, "restart "+RelayName)
			if err != nil || did != tt.did || restarted != (tt.did == "restarted") {
				t.Errorf("StartRelay = %q, %v (calls %q); want %q", did, err, f.calls, tt.did)
			}
		})
	}
}
