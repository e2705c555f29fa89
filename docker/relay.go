package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brokerd/brokerd/wire"
)

// Relay describes the relay container.
type Relay struct {
	// Image is the relay image (ImageTag).
	Image string
	// HostDir is the host directory that holds the daemon's relay socket,
	// mounted at SocketDir (Linux); "" when Upstream is used.
	HostDir string
	// Upstream is the daemon's loopback port as the container reaches it
	// (Docker Desktop: http://host.docker.internal:PORT).
	Upstream string
	// User is the container's "UID:GID": the daemon's user, who alone may
	// connect to the socket (0600); 0:0 on a rootless engine, whose
	// root is that user.
	User string
}

// Cmd is the relay's command line after the image's entrypoint.
func (rl Relay) Cmd() []string {
	cmd := []string{"--socket", SocketDir + "/" + SocketName}
	if rl.HostDir == "" {
		cmd = []string{"--upstream", rl.Upstream}
	}
	return append(cmd, "--listen", wire.RelayAddr+":80")
}

// RunArgs are the arguments of docker run that start the relay: on
// brokerd's network at the relay's address, as the daemon's user, with a
// read-only root, no capabilities, and port 80 open to that user.
func (rl Relay) RunArgs() []string {
	args := []string{"run", "--detach", "--name", RelayName, "--restart", "unless-stopped",
		"--network", Network, "--ip", wire.RelayAddr, "--user", rl.User,
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--sysctl", "net.ipv4.ip_unprivileged_port_start=0", "--label", LabelKey + "=relay"}
	if rl.HostDir != "" {
		// --mount, unlike --volume, does not make a missing directory (as
		// root, in the user's runtime directory) when the engine starts
		// the relay at boot before the user logs in: the relay then stays
		// stopped until brokerd docker run, token or setup starts it.
		args = append(args, "--mount", "type=bind,source="+rl.HostDir+",target="+SocketDir)
	}
	args = append(args, rl.Image)
	return append(args, rl.Cmd()...)
}

// RelayState is the relay container as the engine has it.
type RelayState struct {
	Exists, Running bool
	Image, User     string
	Cmd             []string
	Mounts          []string // SOURCE:DESTINATION
	IP              string   // on brokerd's network
	Status          string   // docker's word: running, exited, restarting...
}

// InspectRelay returns the relay container's state; Exists is false when
// there is none.
func InspectRelay(ctx context.Context, r Runner) (RelayState, error) {
	out, err := r.Docker(ctx, "container", "inspect", "--format",
		`{{.Config.Image}}|{{.State.Running}}|{{.State.Status}}|{{.Config.User}}|{{json .Config.Cmd}}|{{range .Mounts}}{{.Source}}:{{.Destination}},{{end}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}},{{end}}`,
		RelayName)
	if isNotFound(err) {
		return RelayState{}, nil
	}
	if err != nil {
		return RelayState{}, err
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 7 {
		return RelayState{}, fmt.Errorf("docker inspect %s printed %q", RelayName, out)
	}
	st := RelayState{Exists: true, Image: f[0], Running: f[1] == "true", Status: f[2], User: f[3]}
	json.Unmarshal([]byte(f[4]), &st.Cmd)
	for _, m := range strings.Split(f[5], ",") {
		if m != "" {
			st.Mounts = append(st.Mounts, m)
		}
	}
	for _, n := range strings.Split(f[6], ",") {
		if ip, ok := strings.CutPrefix(n, Network+"="); ok {
			st.IP = ip
		}
	}
	return st, nil
}

// Differs says how st differs from rl, "" when it runs as rl says.
func (rl Relay) Differs(st RelayState) string {
	switch {
	case !st.Exists:
		return "there is no relay container"
	case st.Image != rl.Image:
		return fmt.Sprintf("it runs image %s, not %s (brokerd's binary changed)", st.Image, rl.Image)
	case st.User != rl.User:
		return fmt.Sprintf("it runs as user %s, not %s", st.User, rl.User)
	case !slices.Equal(st.Cmd, rl.Cmd()):
		return fmt.Sprintf("it runs relay %s, not %s", strings.Join(st.Cmd, " "), strings.Join(rl.Cmd(), " "))
	case rl.HostDir != "" && !slices.Contains(st.Mounts, rl.HostDir+":"+SocketDir):
		return fmt.Sprintf("it mounts %v, not %s (another state directory)", st.Mounts, rl.HostDir)
	case st.Running && st.IP != wire.RelayAddr:
		return fmt.Sprintf("it has address %q on network %s, not %s", st.IP, Network, wire.RelayAddr)
	}
	return ""
}

// EnsureRelay makes the relay container run as rl says: it starts a
// stopped one, and replaces one that differs. It says what it did.
func EnsureRelay(ctx context.Context, r Runner, rl Relay) (string, error) {
	st, err := InspectRelay(ctx, r)
	if err != nil {
		return "", err
	}
	if st.Exists && rl.Differs(st) == "" {
		if st.Running {
			return "running", nil
		}
		if _, err := r.Docker(ctx, "start", RelayName); err != nil {
			return "", fmt.Errorf("start the relay: %w", holderError(ctx, r, err))
		}
		return "started", nil
	}
	did := "created"
	if st.Exists {
		if _, err := r.Docker(ctx, "rm", "--force", RelayName); err != nil {
			return "", fmt.Errorf("remove the old relay: %w", err)
		}
		did = "replaced (" + rl.Differs(st) + ")"
	}
	if _, err := r.Docker(ctx, rl.RunArgs()...); err != nil {
		return "", fmt.Errorf("start the relay: %w", holderError(ctx, r, err))
	}
	return did, nil
}

// holderError is err, from starting the relay, naming the container that
// holds the relay's address when docker says only that it is in use.
func holderError(ctx context.Context, r Runner, err error) error {
	if !strings.Contains(err.Error(), "Address already in use") {
		return err
	}
	out, ierr := r.Docker(ctx, "network", "inspect", "--format", "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}", Network)
	if ierr != nil {
		return err
	}
	for _, f := range strings.Fields(string(out)) {
		name, addr, _ := strings.Cut(f, "=")
		if name != RelayName && strings.HasPrefix(addr, wire.RelayAddr+"/") {
			return fmt.Errorf("container %s holds the relay's address %s on network %s: remove it (docker rm --force %s), or give it another address",
				name, wire.RelayAddr, Network, name)
		}
	}
	return err
}

// ErrNoRelay means there is no relay container.
var ErrNoRelay = errors.New("there is no relay container " + RelayName + ": run brokerd docker setup")

// StartRelay starts the relay container if it is stopped, as it is after
// a reboot (see Relay.RunArgs), and restarts it when it runs with a relay
// directory hostDir no longer is (the state directory was made anew, as
// when a logout removed the runtime directory): it never reaches the
// daemon through that one. It says what it did, "" for nothing; ErrNoRelay
// when there is none. hostDir is "" for a relay without one.
func StartRelay(ctx context.Context, r Runner, hostDir string) (string, error) {
	st, err := InspectRelay(ctx, r)
	if err != nil {
		return "", err
	}
	if !st.Exists {
		return "", ErrNoRelay
	}
	if !st.Running {
		if _, err := r.Docker(ctx, "start", RelayName); err != nil {
			return "", fmt.Errorf("start the relay (brokerd docker setup makes it again): %w", holderError(ctx, r, err))
		}
		return "started", nil
	}
	if hostDir == "" || !slices.Contains(st.Mounts, hostDir+":"+SocketDir) || !stale(ctx, r, hostDir) {
		return "", nil
	}
	if _, err := r.Docker(ctx, "restart", RelayName); err != nil {
		return "", fmt.Errorf("restart the relay, which holds a removed relay directory (brokerd docker setup makes it again): %w", err)
	}
	return "restarted", nil
}

// procRoot holds /proc/PID/root, each process's view of the files.
var procRoot = "/proc"

// stale reports whether the running relay sees at SocketDir another
// directory than hostDir, one since removed; false when it cannot tell.
func stale(ctx context.Context, r Runner, hostDir string) bool {
	out, err := r.Docker(ctx, "container", "inspect", "--format", "{{.State.Pid}}", RelayName)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		return false
	}
	seen, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid), "root", SocketDir))
	if err != nil {
		return false
	}
	host, err := os.Stat(hostDir)
	return err == nil && !os.SameFile(seen, host)
}

// ProbeArgs are the arguments of docker run for a throwaway container on
// brokerd's network that asks the relay for credentials without a token.
func ProbeArgs(image string) []string {
	return []string{"run", "--rm", "--network", Network, "--user", "65534:65534", "--read-only", "--cap-drop", "ALL",
		"--entrypoint", "/brokerd", image, "relay", "probe", "http://" + wire.RelayAddr + wire.CredentialsPath}
}

// Probe checks from a container on brokerd's network that the relay
// reaches the daemon, trying for up to wait while the relay starts.
func Probe(ctx context.Context, r Runner, image string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		_, err := r.Docker(ctx, ProbeArgs(image)...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("a container on network %s cannot get an answer from brokerd through the relay: %w", Network, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Teardown removes the relay container and brokerd's network. It does not
// fail on what is already gone, and removes nothing while other containers
// are on the network: they would lose their credentials, and the network
// would stay.
func Teardown(ctx context.Context, r Runner) error {
	out, err := r.Docker(ctx, "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", Network)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("list the containers on network %s: %w", Network, err)
	}
	others := slices.DeleteFunc(strings.Fields(string(out)), func(name string) bool { return name == RelayName })
	if len(others) > 0 {
		return fmt.Errorf("containers on network %s get their credentials through the relay: stop them first (docker stop %s), then run brokerd docker teardown again",
			Network, strings.Join(others, " "))
	}
	if _, err := r.Docker(ctx, "rm", "--force", RelayName); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove the relay: %w", err)
	}
	if _, err := r.Docker(ctx, "network", "rm", Network); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove network %s (containers still on it? docker network inspect %s): %w", Network, Network, err)
	}
	return nil
}
