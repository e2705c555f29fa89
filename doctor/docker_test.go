package doctor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/state"
)

// dockerAnswers answers docker commands by their first words; "!" starts
// an error.
type dockerAnswers map[string]string

func (f dockerAnswers) Docker(_ context.Context, args ...string) ([]byte, error) {
	call := strings.Join(args, " ")
	best := ""
	for k := range f {
		if strings.HasPrefix(call, k) && len(k) > len(best) {
			best = k
		}
	}
	out := f[best]
	if msg, ok := strings.CutPrefix(out, "!"); ok {
		return nil, &docker.Error{Args: args, Message: msg}
	}
	return []byte(out), nil
}

func TestDocker(t *testing.T) {
	short, err := os.MkdirTemp("", "dd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(short)
	dir := state.Dir{Path: short}
	os.MkdirAll(dir.Join("relay"), 0o700)
	ln, err := net.Listen("unix", filepath.Join(dir.Join("relay"), "relay.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	running := `brokerd-relay:abc|true|running|0:0|["--socket","/run/brokerd/relay.sock"]|` + dir.Join("relay") + `:/run/brokerd,|brokerd=169.254.170.2,`
	base := dockerAnswers{
		"version":           "20.10.24|amd64",
		"info":              `["name=seccomp"]|Debian`,
		"network inspect":   "169.254.170.0/24 169.254.170.1;",
		"container inspect": running,
		"run --rm":          "the relay at http://169.254.170.2/v1/credentials reaches brokerd",
	}
	with := func(k, v string) dockerAnswers {
		m := dockerAnswers{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		answers dockerAnswers
		level   Level
		says    string
	}{
		{"all well", base, OK, "reaches brokerd through the relay"},
		{"not set up", with("network inspect", "!Error: No such network: brokerd").with("container inspect", "!Error: No such container"), OK, "not set up"},
		{"wrong subnet", with("network inspect", "10.1.0.0/16 10.1.0.1;"), Fail, "docker network rm brokerd"},
		{"no relay", with("container inspect", "!Error: No such container: brokerd-relay"), Fail, "no relay container"},
		{"relay stopped", with("container inspect", strings.Replace(running, "|true|running|", "|false|exited|", 1)), Fail, "exited"},
		{"other state dir", with("container inspect", strings.Replace(running, dir.Join("relay")+":", "/elsewhere:", 1)), Warn, "not this daemon's"},
		{"probe fails", with("run --rm", "!the relay at http://169.254.170.2/v1/credentials answered 503"), Fail, "503"},
		{"engine down", with("version", "!Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"), Warn, "no Docker engine answers at unix:///var/run/docker.sock / start Docker"},
		{"engine denied", with("version", "!permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get ..."), Warn, "/ add your user to the docker group"},
		{"engine unknown", with("version", "!protocol not available"), Warn, "cannot reach a Docker engine"},
	}
	for _, tt := range tests {
		checks := Docker(context.Background(), DockerEnv{Docker: tt.answers, State: dir})
		worst, text := OK, ""
		for _, c := range checks {
			worst = max(worst, c.Level)
			text += c.Message + " / " + c.Fix + "\n"
		}
		if worst != tt.level || !strings.Contains(text, tt.says) {
			t.Errorf("%s: worst %v in\n%s\nwant %v saying %q", tt.name, worst, text, tt.level, tt.says)
		}
	}
}

func (f dockerAnswers) with(k, v string) dockerAnswers {
	m := dockerAnswers{}
	for a, b := range f {
		m[a] = b
	}
	m[k] = v
	return m
}
