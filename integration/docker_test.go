//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/internal/motoserver"
)

// requireDocker fails the test without a Docker engine, unless
// BROKERD_SKIP_DOCKER says to skip it.
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("BROKERD_SKIP_DOCKER") != "" {
		t.Skipf("no Docker engine (%v) and BROKERD_SKIP_DOCKER is set", err)
	}
	t.Fatalf("no Docker engine (%v: %s): run the integration tests under scripts/with-docker (as root), as scripts/check does, "+
		"or set BROKERD_SKIP_DOCKER=1 to skip the Docker tests", err, bytes.TrimSpace(out))
}

// buildStatic builds the package at pkg (relative to this directory)
// without cgo into dir/name.
func buildStatic(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// dockerCmd runs docker and returns its output; it fails the test unless
// docker exits 0.
func dockerCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, code := dockerTry(t, args...)
	if code != 0 {
		t.Fatalf("docker %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func dockerTry(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), 0
}

// container is a container the test ran: its id and what it printed.
type container struct {
	ID, Out string
	Code    int
}

// runContainer runs docker run --name NAME args, then removes the
// container, keeping its id.
func runContainer(t *testing.T, args ...string) container {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "brokerd-it-" + hex.EncodeToString(b)
	out, code := dockerTry(t, append([]string{"run", "--name", name}, args...)...)
	id := strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format", "{{.Id}}", name))
	dockerCmd(t, "rm", "--force", name)
	return container{ID: id, Out: strings.TrimSpace(out), Code: code}
}

// startMotoOn starts moto_server on host (an address of this machine) and
// stops it when the test ends.
func startMotoOn(t *testing.T, host string) string {
	t.Helper()
	m, err := motoserver.StartOn(t.TempDir(), host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m.URL
}

// dockerEnv builds a static brokerd and the image brokerd-whoami:test
// (whoami, awsenv and rawsock, FROM scratch), and returns an environment
// whose profile prod assumes a role with dev's keys, set to remove the
// relay, the network and the images when the test ends.
func dockerEnv(t *testing.T) (e *Env, static, image string) {
	t.Helper()
	bin := t.TempDir()
	static = buildStatic(t, bin, "github.com/brokerd/brokerd/cmd/brokerd", "brokerd")
	ctxDir := t.TempDir()
	for _, name := range []string{"whoami", "awsenv", "rawsock"} {
		if err := os.Rename(buildStatic(t, bin, "./testdata/"+name, name), filepath.Join(ctxDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY whoami awsenv rawsock /\nENTRYPOINT [\"/whoami\"]\n"), 0o600)
	image = "brokerd-whoami:test"
	dockerCmd(t, "build", "-q", "-t", image, ctxDir)

	e = newEnv(t)
	e.writeConfig(t, `
[profile {dev}]
region = us-east-1

[profile {prod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}
region = eu-west-1
`)
	e.addKeys(t, e.profile("dev"), randomKeys(t))
	t.Cleanup(func() {
		e.run(t, "", "docker", "teardown")
		out, _ := dockerTry(t, "image", "ls", "--quiet", "--filter", "label="+docker.LabelKey+"=relay")
		for _, id := range strings.Fields(out) {
			dockerTry(t, "image", "rm", "--force", id)
		}
		dockerTry(t, "image", "rm", "--force", image)
	})
	return e, static, image
}

// TestDocker sets up brokerd's network and relay on a real Docker engine,
// then checks what issue 12 asks: a container started with the printed
// options gets the role through the Go SDK; `brokerd docker run` does the
// same; a container whose token names another profile gets 403; a revoked
// and an expired token are refused; the daemon's own token does not work
// through the relay, nor a container token on loopback; neither the daemon
// nor the relay listens on a host address other than loopback; status
// lists the tokens without their secrets; and the audit log names every
// container that got credentials by its id (checkAudit, when the daemon
// stops, checks every line).
//
// It does not run in parallel: the network, the relay's name and address
// are the engine's, and brokerd doctor in other tests looks at them.
func TestDocker(t *testing.T) {
	requireDocker(t)
	e, static, image := dockerEnv(t)
	dev, prod := e.profile("dev"), e.profile("prod")

	// Setup, with a first daemon: the race-enabled binary is dynamic and
	// refused; a static one builds the relay.
	d0 := e.startDaemon(t, "--default-profile", prod)
	if raceEnabled {
		wantOneLineError(t, e.run(t, "", "docker", "setup"), "CGO_ENABLED=0")
	}
	out := e.mustRun(t, "", "docker", "setup", "--binary", static)
	for _, want := range []string{"network brokerd: created (169.254.170.0/24)", "image brokerd-relay:", "built from " + static,
		"relay brokerd-relay at 169.254.170.2: created", "reaches brokerd through the relay"} {
		if !strings.Contains(out, want) {
			t.Errorf("brokerd docker setup printed:\n%s\nwant it to say %q", out, want)
		}
	}
	if again := e.mustRun(t, "", "docker", "setup", "--binary", static); !strings.Contains(again, "network brokerd: exists") ||
		!strings.Contains(again, ": exists") || !strings.Contains(again, "169.254.170.2: running") {
		t.Errorf("brokerd docker setup, again, printed:\n%s\nwant everything to exist and run", again)
	}

	// STS for the daemon and the containers alike: moto on the network's
	// gateway, this machine's address on the bridge. The daemon restarts
	// to use it; the relay reaches the new one through the same directory.
	d0.stop(t)
	sts := startMotoOn(t, docker.Gateway)
	e.setenv("AWS_ENDPOINT_URL_STS", sts)
	d := e.startDaemon(t, "--default-profile", prod)
	inContainer := []string{"--env", "AWS_ENDPOINT_URL_STS=" + sts, "--env", "AWS_EC2_METADATA_DISABLED=true"}
	// tokenArgs makes a token with brokerd docker token and returns the
	// options it prints, one a line, and the token file.
	tokenArgs := func(t *testing.T, args ...string) (opts []string, tokenFile string) {
		t.Helper()
		out := e.mustRun(t, "", append([]string{"docker", "token", "--format", "lines"}, args...)...)
		opts = strings.Split(strings.TrimSpace(out), "\n")
		for _, o := range opts {
			if src, ok := strings.CutPrefix(o, "type=bind,source="); ok {
				tokenFile, _, _ = strings.Cut(src, ",")
			}
		}
		if tokenFile == "" {
			t.Fatalf("brokerd docker token %s printed no token file mount:\n%s", strings.Join(args, " "), out)
		}
		return opts, tokenFile
	}
	var secrets []string
	got := map[string]string{} // container id -> label, for each that got credentials
	runs := map[string]int{}   // container id -> its runs, when more than one
	wantServed := func(t *testing.T, c container, label string) {
		t.Helper()
		if c.Code != 0 || len(c.ID) != 64 {
			t.Fatalf("container %s: exit %d\n%s", c.ID, c.Code, c.Out)
		}
		got[c.ID] = label
	}

	t.Run("printed options", func(t *testing.T) {
		opts, tokenFile := tokenArgs(t, prod, "--label", "printed")
		secret, _ := os.ReadFile(tokenFile)
		secrets = append(secrets, string(secret))
		for _, want := range []string{"--network\nbrokerd", "--env\nAWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.2/v1/credentials/" + prod,
			"--env\nAWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/brokerd/token", "--mount\ntype=bind,source=" + tokenFile + ",target=/run/brokerd/token,readonly",
			"--env\nAWS_REGION=eu-west-1", "--env\nAWS_DEFAULT_REGION=eu-west-1", "--cidfile\n"} {
			if !strings.Contains(strings.Join(opts, "\n"), want) {
				t.Errorf("brokerd docker token printed %q, want %q", opts, want)
			}
		}
		if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 || len(secret) == 0 || bytes.ContainsAny(secret, "\r\n") {
			t.Errorf("token file %s: %v, %v, %d bytes; want mode 0600, one line without newline", tokenFile, fi.Mode(), err, len(secret))
		}
		c := runContainer(t, append(append(opts, inContainer...), image)...)
		wantServed(t, c, "printed")
		// The last line: the SDK may log a warning first (on standard
		// error, which runContainer keeps with the output), such as
		// "failed to discard remaining HTTP response body" when moto
		// closed a connection.
		if last := c.Out[strings.LastIndexByte(c.Out, '\n')+1:]; !strings.HasPrefix(last, assumedUpdateApp) {
			t.Errorf("the Go SDK in the container is %q, want %s…", c.Out, assumedUpdateApp)
		}
	})

	t.Run("docker run", func(t *testing.T) {
		r := e.run(t, "", append(append([]string{"docker", "run", prod, "--", "--name", "brokerd-it-wrapped"}, inContainer...), image)...)
		id := strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format", "{{.Id}}", "brokerd-it-wrapped"))
		dockerCmd(t, "rm", "--force", "brokerd-it-wrapped")
		wantServed(t, container{ID: id, Out: r.stdout, Code: r.code}, "brokerd-it-wrapped")
		if !strings.HasPrefix(r.stdout, assumedUpdateApp) {
			t.Errorf("brokerd docker run printed %v, want %s…", r, assumedUpdateApp)
		}
		st := e.status(t)
		i := slices.IndexFunc(st.Containers, func(c control.ContainerToken) bool { return c.Label == "brokerd-it-wrapped" })
		if i < 0 || st.Containers[i].Revoked == nil || st.Containers[i].ContainerID != id || st.Containers[i].LastUsed == nil {
			t.Errorf("status lists %+v; want the token of brokerd-it-wrapped revoked once docker run returned, used, in container %s", st.Containers, id)
		}
		if r := e.run(t, "", "docker", "run", prod, "--", "--network", "host", image); r.code == 0 || !strings.Contains(r.stderr, "--network") {
			t.Errorf("brokerd docker run with --network: %v, want a refusal naming --network", r)
		}
	})

	// A container on brokerd's network that keeps Docker's default
	// CAP_NET_RAW can forge ARP answers for 169.254.170.2 and collect the
	// other containers' tokens: brokerd docker run drops it, and the
	// container still gets its credentials. Options that add it back are
	// obeyed, with a warning.
	t.Run("no raw sockets", func(t *testing.T) {
		// packet is what the container said of its packet socket (docker
		// may put its standard error first).
		packet := func(out string) string {
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "packet socket: ") {
					return l
				}
			}
			return ""
		}
		c := runContainer(t, "--network", docker.Network, "--entrypoint", "/rawsock", image, "-raw", "-url", "http://"+docker.Gateway+":1/")
		if packet(c.Out) != "packet socket: ok" {
			t.Fatalf("a container on network %s with Docker's default capabilities printed %q; want it to open a packet socket, as the defect needs", docker.Network, c.Out)
		}
		const name = "brokerd-it-noraw"
		r := e.run(t, "", append(append([]string{"docker", "run", prod, "--", "--name", name, "--entrypoint", "/rawsock"}, inContainer...), image)...)
		id := strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format", "{{.Id}}", name))
		dockerCmd(t, "rm", "--force", name)
		wantServed(t, container{ID: id, Out: r.stdout, Code: r.code}, name)
		if packet(r.stdout) != "packet socket: operation not permitted" || !strings.Contains(r.stdout, "\n"+assumedUpdateApp) {
			t.Errorf("brokerd docker run: %v; want no packet socket (operation not permitted), then the role's ARN", r)
		}
		if strings.Contains(r.stderr, "NET_RAW") {
			t.Errorf("brokerd docker run without --cap-add warned %q", r.stderr)
		}
		// --cap-add ALL and --privileged are unit tests only: this engine
		// (in a container itself) cannot apply every capability.
		for _, add := range [][]string{{"--cap-add", "NET_RAW"}, {"--cap-add=cap_net_raw"}} {
			args := append(append([]string{"docker", "run", prod, "--", "--rm", "--entrypoint", "/rawsock"}, add...), image, "-raw", "-url", "http://"+docker.Gateway+":1/")
			r := e.run(t, "", args...)
			warnings := strings.Count(r.stderr, "pose as the relay")
			if packet(r.stdout) != "packet socket: ok" || warnings != 1 || !strings.Contains(r.stderr, "--cap-add ") {
				t.Errorf("brokerd %s: %v; want the packet socket the options ask for and one warning naming --cap-add", strings.Join(args, " "), r)
			}
		}
	})

	// A region the docker run options set is the container's in both
	// variables: brokerd's AWS_DEFAULT_REGION stayed the profile's, which
	// botocore reads, while Go and JS took the option's AWS_REGION.
	t.Run("a region of the options", func(t *testing.T) {
		envFile := filepath.Join(t.TempDir(), "env")
		os.WriteFile(envFile, []byte("AWS_DEFAULT_REGION=ap-south-1\n"), 0o600)
		for _, tt := range []struct {
			args []string
			want string
		}{
			{nil, "AWS_REGION=eu-west-1\nAWS_DEFAULT_REGION=eu-west-1"},
			{[]string{"-e", "AWS_REGION=us-west-2"}, "AWS_REGION=us-west-2\nAWS_DEFAULT_REGION=us-west-2"},
			{[]string{"--env-file", envFile}, "AWS_REGION=ap-south-1\nAWS_DEFAULT_REGION=ap-south-1"},
		} {
			args := append(append([]string{"docker", "run", prod, "--", "--rm", "--entrypoint", "/awsenv"}, tt.args...), image)
			if r := e.run(t, "", args...); r.code != 0 || strings.TrimSpace(r.stdout) != tt.want {
				t.Errorf("brokerd %s: %v; want %q", strings.Join(args, " "), r, tt.want)
			}
		}
	})

	// Keys or a profile in the options come before the endpoint in the
	// container's SDKs: brokerd says so rather than leave the developer
	// wondering why the profile's credentials were not used.
	t.Run("shadowing variables", func(t *testing.T) {
		r := e.run(t, "", "docker", "run", prod, "--", "--rm", "--entrypoint", "/awsenv",
			"-e", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "-e", "AWS_SECRET_ACCESS_KEY=x", image)
		if r.code != 0 || !strings.Contains(r.stderr, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, set by the docker run options, come before brokerd's endpoint") {
			t.Errorf("brokerd docker run with keys in -e: %v; want a warning naming them", r)
		}
	})

	// A container that the engine restarts keeps its token: brokerd docker
	// run returned at its first exit and revoked it, and every later run
	// was refused TokenRevoked.
	t.Run("restart policy", func(t *testing.T) {
		const name = "brokerd-it-restarts"
		// Credentials come through the relay; STS does not answer, so the
		// container fails, and the engine runs it once more.
		r := e.run(t, "", "docker", "run", prod, "--", "--name", name, "--restart", "on-failure:1",
			"--env", "AWS_ENDPOINT_URL_STS=http://127.0.0.1:1", "--env", "AWS_EC2_METADATA_DISABLED=true", image)
		defer dockerTry(t, "rm", "--force", name)
		if r.code != 1 || !strings.Contains(r.stderr, "for the restarts of --restart on-failure:1") {
			t.Errorf("brokerd docker run --restart on-failure:1: %v; want exit 1 and a note that the token stays", r)
		}
		waitFor(t, "the container's second run", func() bool {
			out, _ := dockerTry(t, "container", "inspect", "--format", "{{.RestartCount}} {{.State.Status}}", name)
			return strings.TrimSpace(out) == "1 exited"
		})
		logs := dockerCmd(t, "logs", name)
		if strings.Count(logs, "connection refused") != 2 || strings.Contains(logs, "TokenRevoked") {
			t.Errorf("the container's two runs printed:\n%s\nwant both to get credentials and fail at STS", logs)
		}
		id := strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format", "{{.Id}}", name))
		got[id], runs[id] = name, 2
		e.mustRun(t, "", "docker", "revoke", name)
	})

	t.Run("another profile is refused", func(t *testing.T) {
		opts, tokenFile := tokenArgs(t, dev, "--label", "worker")
		secret, _ := os.ReadFile(tokenFile)
		secrets = append(secrets, string(secret))
		c := runContainer(t, append(append(opts, inContainer...), image)...)
		wantServed(t, c, "worker") // its own profile
		c = runContainer(t, append(withoutCIDFile(opts), image, "-raw", "-url", "http://169.254.170.2/v1/credentials/"+prod)...)
		if !strings.HasPrefix(c.Out, "403 ") || !strings.Contains(c.Out, "ProfileNotAllowed") {
			t.Errorf("the worker's container asking for %s got %q, want 403 ProfileNotAllowed", prod, c.Out)
		}
		sdk := append(withoutCIDFile(opts), inContainer...)
		sdk = append(sdk, "--env", "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.2/v1/credentials/"+prod, image)
		c = runContainer(t, sdk...)
		if c.Code == 0 || !strings.Contains(c.Out, "ProfileNotAllowed") {
			t.Errorf("the Go SDK in the worker's container, pointed at %s: exit %d %q; want a failure with ProfileNotAllowed", prod, c.Code, c.Out)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		opts, _ := tokenArgs(t, prod, "--label", "revoke-me")
		c := runContainer(t, append(opts, image, "-raw")...)
		wantServed(t, c, "revoke-me")
		if !strings.HasPrefix(c.Out, "200 ASIA") {
			t.Fatalf("before revocation: %q, want 200", c.Out)
		}
		if out := e.mustRun(t, "", "docker", "revoke", "revoke-me"); !strings.Contains(out, "revoked container token") {
			t.Errorf("brokerd docker revoke printed %q", out)
		}
		c = runContainer(t, append(withoutCIDFile(opts), image, "-raw")...)
		if !strings.HasPrefix(c.Out, "403 ") || !strings.Contains(c.Out, "TokenRevoked") {
			t.Errorf("after revocation: %q, want 403 TokenRevoked", c.Out)
		}
	})

	t.Run("expired", func(t *testing.T) {
		opts, _ := tokenArgs(t, prod, "--label", "short", "--ttl", "2s")
		time.Sleep(2500 * time.Millisecond)
		c := runContainer(t, append(opts, image, "-raw")...)
		if !strings.HasPrefix(c.Out, "401 ") || !strings.Contains(c.Out, "TokenExpired") {
			t.Errorf("after expiry: %q, want 401 TokenExpired", c.Out)
		}
	})

	t.Run("tokens where they do not belong", func(t *testing.T) {
		c := runContainer(t, "--network", docker.Network, "--env", "AWS_CONTAINER_AUTHORIZATION_TOKEN="+d.Token, image, "-raw", "-url", "http://169.254.170.2/v1/credentials/"+prod)
		if !strings.HasPrefix(c.Out, "403 ") || !strings.Contains(c.Out, "own token is refused through the relay") {
			t.Errorf("the daemon's token through the relay: %q, want 403", c.Out)
		}
		r := d.get(t, "/v1/credentials/"+prod, func(r *http.Request) { r.Header.Set("Authorization", secrets[0]) })
		wantAPIError(t, r, http.StatusForbidden, "ContainerToken", "relay")
		c = runContainer(t, "--network", docker.Network, image, "-raw", "-url", "http://169.254.170.2/v1/status")
		if !strings.HasPrefix(c.Out, "404 ") {
			t.Errorf("a path other than the credentials through the relay: %q, want 404", c.Out)
		}
	})

	t.Run("listening sockets", func(t *testing.T) {
		// 127.0.0.1 and, where the machine has IPv6, [::1] at the same
		// port, which a client whose URL names localhost may try first.
		_, port, _ := net.SplitHostPort(d.Addr)
		v6 := net.JoinHostPort("::1", port)
		if addrs := tcpListeners(t, d.PID); !slices.Equal(addrs, []string{d.Addr}) && !slices.Equal(addrs, []string{d.Addr, v6}) {
			t.Errorf("brokerd listens on TCP %v, want only %s and %s", addrs, d.Addr, v6)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format", "{{.State.Pid}}", docker.RelayName)))
		if err != nil || pid <= 0 {
			t.Fatalf("relay pid: %v", err)
		}
		hostNS, _ := os.Readlink("/proc/self/ns/net")
		relayNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if hostNS == "" || relayNS == hostNS {
			t.Errorf("the relay's network namespace is %q, the host's %q: want its own", relayNS, hostNS)
		}
		if addrs := tcpListeners(t, pid); !slices.Equal(addrs, []string{"169.254.170.2:80"}) {
			t.Errorf("the relay listens on %v in its namespace, want only 169.254.170.2:80", addrs)
		}
		// In the host's namespace: nothing of the daemon or the relay
		// listens anywhere but on loopback.
		for _, p := range []int{d.PID, pid} {
			for _, a := range hostListeners(t, p) {
				if host, _, _ := net.SplitHostPort(a); !net.ParseIP(host).IsLoopback() {
					t.Errorf("pid %d listens on %s in the host's network namespace", p, a)
				}
			}
		}
		for _, a := range allHostListeners(t) {
			if strings.HasPrefix(a, "169.254.170.2:") {
				t.Errorf("something listens on %s in the host's network namespace", a)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		out := e.mustRun(t, "", "status")
		for _, want := range []string{"CONTAINER TOKEN", "printed", "worker", "revoke-me", "revoked", "short", "expired", prod + "  "} {
			if !strings.Contains(out, want) {
				t.Errorf("brokerd status:\n%s\nwant it to say %q", out, want)
			}
		}
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(e.mustRun(t, "", "status", "--json"), s) {
				t.Errorf("brokerd status shows a container token")
			}
		}
	})

	files := stateFiles(t, e.StateDir)
	d.stop(t) // checkAudit: every issuance names its process or container
	for _, s := range secrets {
		if part, ok := leaked(d.log(), s); ok {
			t.Errorf("the daemon's log shows a container token (%q)", part)
		}
		for name, text := range files {
			if strings.Contains(name, "/token") {
				continue
			}
			if part, ok := leaked(text, s); ok {
				t.Errorf("state file %s holds a container token (%q)", name, part)
			}
		}
	}
	events, err := audit.Read(e.vars["BROKERD_AUDIT_DIR"], audit.Filter{Since: d.Started})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]int{}
	for _, ev := range events {
		if ev.Kind != audit.Issued {
			continue
		}
		if ev.Container == nil || got[ev.Container.ID] != ev.Container.Label || !strings.HasPrefix(ev.Container.IP, "169.254.170.") {
			t.Errorf("issuance %+v names container %+v, not one that got credentials", ev, ev.Container)
			continue
		}
		served[ev.Container.ID] += ev.N()
	}
	for id, label := range got {
		if want := max(1, runs[id]); served[id] != want {
			t.Errorf("container %s (%s) got credentials %d times; the audit log counts %d", id[:12], label, want, served[id])
		}
	}
	var refusals []string
	for _, ev := range events {
		if ev.Kind == audit.Refused && ev.Container != nil {
			refusals = append(refusals, ev.Code+"/"+ev.Container.Label)
		}
	}
	for _, want := range []string{"ProfileNotAllowed/worker", "TokenRevoked/revoke-me", "TokenExpired/short", "InvalidToken/"} {
		if !slices.Contains(refusals, want) {
			t.Errorf("audit refusals %v lack %s", refusals, want)
		}
	}
	table := e.mustRun(t, "", "audit", "--since", "1h")
	for id, label := range got {
		if !strings.Contains(table, "container "+id[:12]+" ("+label+")") {
			t.Errorf("brokerd audit does not show container %s (%s):\n%s", id[:12], label, table)
		}
	}
	jsonOut := e.mustRun(t, "", "audit", "--json")
	for _, line := range strings.Split(strings.TrimSpace(jsonOut), "\n") {
		var ev audit.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("brokerd audit --json printed %q: %v", line, err)
		}
	}
}

// withoutCIDFile is opts without --cidfile, for a second container with
// the same token (docker refuses a cidfile that exists).
func withoutCIDFile(opts []string) []string {
	var out []string
	for i := 0; i < len(opts); i++ {
		if opts[i] == "--cidfile" {
			i++
			continue
		}
		out = append(out, opts[i])
	}
	return out
}

// hostListeners lists the TCP addresses that pid listens on in this
// process's network namespace (the host's).
func hostListeners(t *testing.T, pid int) []string {
	t.Helper()
	inodes := socketInodes(t, pid)
	var out []string
	for inode, addr := range listening(t, "/proc/self/net") {
		if inodes[inode] {
			out = append(out, addr)
		}
	}
	return out
}

// allHostListeners lists every TCP listener of the host's namespace.
func allHostListeners(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, addr := range listening(t, "/proc/self/net") {
		out = append(out, addr)
	}
	return out
}

func socketInodes(t *testing.T, pid int) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return inodes
}

// listening maps the inodes of the listening TCP sockets in dir (a
// /proc/PID/net) to their addresses.
func listening(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(dir, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			out[f[9]] = procAddr(t, f[1])
		}
	}
	return out
}

// TestDockerReboot follows containers with a restart policy through a
// restart of the daemon, which keeps their tokens (the digests in
// containers.json, the files in the state directory), and a reboot, which
// empties the state directory: the engine then cannot start a container
// whose token file's mount has no source, and one that holds its token in
// its environment (--token-env) is refused; brokerd says so, with what to
// do, when it starts the relay again (docker setup, run or token, which a
// reboot needs) and in doctor. brokerd docker reissue then gives each a
// new token at the very path its mount names, scoped as before (the
// profiles of --also too, from the label docker run set), and docker start
// serves them again, that profile and no other; a --token-env container
// is told to be made again, and a container whose mount names a file
// outside the state directory is refused, nothing written there. The audit
// log names each reissue with the container and the command that asked.
func TestDockerReboot(t *testing.T) {
	requireDocker(t)
	started := time.Now()
	e, static, image := dockerEnv(t)
	dev, prod := e.profile("dev"), e.profile("prod")
	d := e.startDaemon(t, "--default-profile", prod)
	e.mustRun(t, "", "docker", "setup", "--binary", static)
	d.stop(t)
	e.setenv("AWS_ENDPOINT_URL_STS", startMotoOn(t, docker.Gateway))
	d = e.startDaemon(t, "--default-profile", prod)

	const (
		name  = "brokerd-it-reboot"      // prod, fetches prod
		also  = "brokerd-it-reboot-also" // prod --also dev, fetches dev
		other = "brokerd-it-reboot-dev"  // prod, fetches dev: refused
		env   = "brokerd-it-reboot-env"  // prod --token-env
		out   = "brokerd-it-reboot-out"  // mounts a file outside the state directory
	)
	for _, n := range []string{name, also, other, env, out} {
		defer dockerTry(t, "rm", "--force", n)
	}
	logs := func(n string) string {
		s, _ := dockerTry(t, "logs", n)
		return s
	}
	served := func(n string) int { return strings.Count(logs(n), "200 A") } // ASIA… for prod, AKIA… (moto's session) for dev
	devURL := docker.RelayURL(dev)
	// whoami -raw gets credentials through the relay and exits 0: the
	// engine runs it again and again until stopped.
	r := e.run(t, "", "docker", "run", prod, "--", "--detach", "--name", name, "--restart", "always", image, "-raw")
	if r.code != 0 || !strings.Contains(r.stderr, "lasts until") {
		t.Fatalf("brokerd docker run --detach --restart always: %v", r)
	}
	e.mustRun(t, "", "docker", "run", prod, "--also", dev, "--label", "both", "--ttl", "2h", "--", "--detach", "--name", also, "--restart", "unless-stopped", image, "-raw", "-url", devURL)
	e.mustRun(t, "", "docker", "run", prod, "--", "--detach", "--name", other, "--restart", "on-failure:5", image, "-raw", "-url", devURL)
	e.mustRun(t, "", "docker", "run", prod, "--token-env", "--", "--detach", "--name", env, "--restart", "always", image, "-raw")
	waitLogs(t, "runs with credentials", logs, []string{name, also, other, env}, func() bool {
		return served(name) >= 1 && served(also) >= 1 && served(env) >= 1 && strings.Contains(logs(other), "ProfileNotAllowed")
	})
	mountOf := func(n string) string {
		return strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format",
			`{{range .Mounts}}{{if eq .Destination "`+docker.TokenFile+`"}}{{.Source}}{{end}}{{end}}`, n))
	}
	tokenFile := mountOf(name)
	if !strings.HasPrefix(tokenFile, e.StateDir+"/containers/") {
		t.Fatalf("container %s mounts %q, want a token file of the state directory %s", name, tokenFile, e.StateDir)
	}
	for _, n := range []string{name, also, other, env} {
		dockerCmd(t, "stop", n)
	}

	d.stop(t)
	d = e.startDaemon(t, "--default-profile", prod)
	n := served(name)
	dockerCmd(t, "start", name)
	waitFor(t, "a run with credentials after the daemon's restart", func() bool { return served(name) > n })
	dockerCmd(t, "stop", name)
	if r := e.run(t, "", "doctor"); strings.Contains(r.stdout+r.stderr, "cannot start again") || strings.Contains(r.stdout+r.stderr, "no longer knows") {
		t.Errorf("brokerd doctor after a restart of the daemon: %v; want no word of lost tokens", r)
	}

	// A container that mounts a file outside the state directory where a
	// token file goes, as if brokerd had made it.
	outside := filepath.Join(t.TempDir(), "containers", "c0123abcd")
	os.MkdirAll(outside, 0o700)
	os.WriteFile(filepath.Join(outside, "token"), []byte("bdc_x"), 0o600)
	dockerCmd(t, "create", "--name", out, "--restart", "always", "--network", docker.Network,
		"--env", "AWS_CONTAINER_CREDENTIALS_FULL_URI="+docker.RelayURL(prod), "--env", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+docker.TokenFile,
		"--mount", "type=bind,source="+filepath.Join(outside, "token")+",target="+docker.TokenFile+",readonly", image, "-raw")
	os.Remove(filepath.Join(outside, "token"))
	// A reboot: the engine's containers stop, the runtime directory goes,
	// the daemon starts again after the login.
	dockerCmd(t, "stop", docker.RelayName)
	d.stop(t)
	if err := os.RemoveAll(e.StateDir); err != nil {
		t.Fatal(err)
	}
	d = e.startDaemon(t, "--default-profile", prod)
	if out, code := dockerTry(t, "start", name); code == 0 || !strings.Contains(out, "bind source path does not exist") {
		t.Errorf("docker start %s after the reboot: exit %d %q; want docker's refusal of the missing token file", name, code, out)
	}
	problem := "container " + name + " (--restart always) cannot start again: its token file "
	fix := "brokerd docker reissue " + name + " gives it a new token in place (or make it again: docker rm -f " + name +
		", then brokerd docker run " + prod + " --label " + name + " -- --restart always --name " + name + " [your other options] IMAGE)"
	envProblem := "container " + env + " (--restart always) holds in its environment a token that brokerd no longer knows"
	envFix := "make it again (a token in its environment cannot be changed in place): docker rm -f " + env + ", then brokerd docker run " + prod +
		" --label " + env + " --token-env -- --restart always --name " + env + " [your other options] IMAGE"
	r = e.run(t, "", "docker", "token", prod, "--label", "after-reboot")
	if r.code != 0 || !strings.Contains(r.stderr, "started the relay container") || strings.Count(r.stderr, problem) != 1 || !strings.Contains(r.stderr, fix) ||
		!strings.Contains(r.stderr, envProblem) || !strings.Contains(r.stderr, envFix) {
		t.Errorf("brokerd docker token after the reboot: %v\nwant it to start the relay and say once %q… %q, and %q… %q", r, problem, fix, envProblem, envFix)
	}
	if r := e.run(t, "", "docker", "token", prod, "--label", "again"); strings.Contains(r.stderr, problem) {
		t.Errorf("brokerd docker token with the relay running: %v; want no look at the containers (it costs docker commands)", r)
	}
	r = e.run(t, "", "doctor")
	if !strings.Contains(r.stdout+r.stderr, problem) || !strings.Contains(r.stdout+r.stderr, fix) || !strings.Contains(r.stdout+r.stderr, envProblem) {
		t.Errorf("brokerd doctor after the reboot: %v\nwant %q, %q and %q", r, problem, fix, envProblem)
	}

	// Reissue: the container outside the state directory is refused, the
	// --token-env one told to be made again, the others get new tokens.
	r = e.run(t, "", "docker", "reissue", out, env)
	if r.code == 0 || !strings.Contains(r.stdout, "container "+out+": "+filepath.Join(outside, "token")+" is not a token file of brokerd's state directory") ||
		!strings.Contains(r.stdout, "container "+env+" holds its token in its environment, which cannot be changed in place: make it again: docker rm -f "+env) {
		t.Errorf("brokerd docker reissue %s %s: %v\nwant the first refused (outside the state directory), the second told to be made again", out, env, r)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("brokerd docker reissue wrote %v outside the state directory", ents)
	}
	t0 := time.Now()
	r = e.run(t, "", "docker", "reissue")
	reissueTook := time.Since(t0)
	for _, want := range []string{
		"container " + name + ": new token ", "(label " + name + ") for " + prod + ", until ", "start it: docker start " + name,
		"container " + also + ": new token ", "(label both) for " + prod + ", " + dev + ", until ",
		"container " + other + ": new token ",
		"container " + env + " holds its token in its environment",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("brokerd docker reissue: %v\nwant %q", r, want)
		}
	}
	if r.code != 1 || !strings.Contains(r.stdout, "container "+out+": "+filepath.Join(outside, "token")+" is not a token file of brokerd's state directory") {
		t.Errorf("brokerd docker reissue: %v; want exit 1 (the --token-env container has no new token, %s's mount is refused)", r, out)
	}
	if strings.Contains(r.stdout+r.stderr, "bdc_") {
		t.Errorf("brokerd docker reissue printed a token: %v", r)
	}
	if got := mountOf(name); got != tokenFile {
		t.Errorf("container %s mounts %q after the reissue, want %q", name, got, tokenFile)
	}
	fi, err := os.Lstat(tokenFile)
	di, _ := os.Lstat(filepath.Dir(tokenFile))
	if err != nil || fi.Mode() != 0o600 || di.Mode() != os.ModeDir|0o700 {
		t.Errorf("reissued token file %s: %v, mode %v in %v; want 0600 in 0700", tokenFile, err, fi.Mode(), di.Mode())
	}
	var st control.Status
	json.Unmarshal([]byte(e.mustRun(t, "", "status", "--json")), &st)
	tokenID := filepath.Base(filepath.Dir(tokenFile))
	var tok *control.ContainerToken
	for i := range st.Containers {
		if st.Containers[i].ID == tokenID {
			tok = &st.Containers[i]
		}
	}
	id := strings.TrimSpace(dockerCmd(t, "container", "inspect", "--format", "{{.Id}}", name))
	if tok == nil || tok.Label != name || tok.ContainerID != id || !tok.Expires.After(time.Now().Add(11*time.Hour)) {
		t.Errorf("status lists %+v; want token %s (the directory's id) labelled %s for container %s, 12h", st.Containers, tokenID, name, id)
	}
	for _, c := range st.Containers {
		if c.Label == "both" && !c.Expires.Before(time.Now().Add(2*time.Hour)) {
			t.Errorf("token of %s expires %v, want within the 2h it was given (its label's ttl)", also, c.Expires)
		}
	}

	// docker start: each gets credentials again, for its profiles alone.
	n, nAlso := served(name), served(also)
	nOther := strings.Count(logs(other), "ProfileNotAllowed")
	t1 := time.Now()
	dockerCmd(t, "start", name)
	dockerCmd(t, "start", also)
	dockerCmd(t, "start", other)
	starts, t2 := time.Since(t1), time.Now()
	waitLogs(t, "runs with credentials after the reissue", logs, []string{name, also, other}, func() bool {
		return served(name) > n && served(also) > nAlso && strings.Count(logs(other), "ProfileNotAllowed") > nOther
	})
	servedAgain := time.Since(t2)
	if strings.Count(logs(other), "200 A") > 0 {
		t.Errorf("container %s, given prod, got %s's credentials: %s", other, dev, logs(other))
	}
	for _, c := range []string{name, also, other} {
		dockerCmd(t, "stop", c)
	}
	if r := e.run(t, "", "doctor"); strings.Contains(r.stdout+r.stderr, problem) || !strings.Contains(r.stdout+r.stderr, envProblem) {
		t.Errorf("brokerd doctor after the reissue: %v; want no word of %s, and %s still", r, name, env)
	}
	if r := e.run(t, "", "docker", "reissue", name); r.code != 0 || !strings.Contains(r.stdout, "container "+name+" has its token file: nothing to do") {
		t.Errorf("brokerd docker reissue %s again: %v; want nothing to do", name, r)
	}

	d.stop(t) // checkAudit: every line names its process or container
	events, err := audit.Read(e.vars["BROKERD_AUDIT_DIR"], audit.Filter{Since: d.Started})
	if err != nil {
		t.Fatal(err)
	}
	var reissued []string
	for _, ev := range events {
		if ev.Kind != "reissued" {
			continue
		}
		if ev.Container == nil || len(ev.Container.ID) != 64 || ev.Client == nil || ev.Client.PID <= 0 || ev.Client.Exe == "" || ev.Status != 200 {
			t.Errorf("audit line of a reissue %+v: want the container's id, and the process that asked", ev)
			continue
		}
		reissued = append(reissued, ev.Container.Label+" "+ev.Profile)
	}
	slices.Sort(reissued)
	if want := []string{"both " + prod, name + " " + prod, other + " " + prod}; !slices.Equal(reissued, want) {
		t.Errorf("the audit log names reissues %q, want %q", reissued, want)
	}
	t.Logf("brokerd docker reissue (3 tokens, 2 refusals) took %v; docker start of the 3 took %v, and all were served %v after the last; the test %v",
		reissueTook.Round(time.Millisecond), starts.Round(time.Millisecond), servedAgain.Round(time.Millisecond), time.Since(started).Round(time.Second))
}

// waitLogs waits up to 20 s for cond, then fails the test with the
// output of the containers names.
func waitLogs(t *testing.T, what string, logs func(string) string, names []string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, n := range names {
				fmt.Fprintf(&b, "%s:\n%s\n", n, logs(n))
			}
			t.Fatalf("timed out after 20 s waiting for %s; the containers printed:\n%s", what, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
