package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// DockerEnv is what the Docker checks look at.
type DockerEnv struct {
	// Docker runs the docker command line.
	Docker docker.Runner
	// State is the state directory, whose relay directory the relay mounts.
	State state.Dir
	// Binary is this brokerd, whose image the relay should run; "" skips
	// that check.
	Binary string
}

// Docker checks brokerd's Docker network and relay container: the
// network's subnet, the relay's state, image, user and mount, the daemon's
// relay socket, and, from a throwaway container on the network, that the
// relay reaches the daemon. With no docker command, or a network never set
// up, it says so in one line that is not a failure.
func Docker(ctx context.Context, env DockerEnv) []Check {
	const name = "docker"
	eng, err := docker.Inspect(ctx, env.Docker)
	var de *docker.Error
	switch {
	case errors.Is(err, docker.ErrNoDocker):
		return []Check{{name, OK, "no docker command: containers are not set up", ""}}
	case errors.As(err, &de):
		if problem, fix := de.Unreachable(); problem != "" {
			return []Check{{name, Warn, problem, fix}}
		}
	}
	if err != nil {
		return []Check{{name, Warn, err.Error(), "start Docker, or set DOCKER_HOST"}}
	}
	out := []Check{{name, OK, fmt.Sprintf("engine %s (%s)", eng.Version, eng.Arch), ""}}
	err = docker.CheckNetwork(ctx, env.Docker)
	if errors.Is(err, docker.ErrNoNetwork) {
		relay, _ := docker.InspectRelay(ctx, env.Docker)
		if !relay.Exists {
			return append(out, Check{"docker network", OK, "containers are not set up (network " + docker.Network + " does not exist)", "brokerd docker setup, to give containers credentials"})
		}
	}
	if err != nil {
		return append(out, Check{"docker network", Fail, err.Error(), "brokerd docker setup"})
	}
	out = append(out, Check{"docker network", OK, fmt.Sprintf("%s on %s, gateway %s", docker.Network, docker.Subnet, docker.Gateway), ""})

	st, err := docker.InspectRelay(ctx, env.Docker)
	switch {
	case err != nil:
		return append(out, Check{"docker relay", Fail, err.Error(), "brokerd docker setup"})
	case !st.Exists:
		return append(out, Check{"docker relay", Fail, "there is no relay container " + docker.RelayName + ": containers get no credentials", "brokerd docker setup"})
	case !st.Running:
		return append(out, Check{"docker relay", Fail, fmt.Sprintf("the relay container is %s, not running", st.Status), "brokerd docker setup (docker logs " + docker.RelayName + " tells why it stopped)"})
	}
	relayDir := env.State.Join("relay")
	if st.IP != wire.RelayAddr {
		out = append(out, Check{"docker relay", Fail, fmt.Sprintf("the relay has address %q, not %s", st.IP, wire.RelayAddr), "brokerd docker setup"})
	} else if len(st.Mounts) > 0 && !containsPrefix(st.Mounts, relayDir+":") {
		return append(out, Check{"docker relay", Warn, fmt.Sprintf("the relay serves another brokerd: it mounts %v, not this daemon's %s", st.Mounts, relayDir), "brokerd docker setup, to serve this one"})
	} else {
		out = append(out, Check{"docker relay", OK, fmt.Sprintf("%s running at %s, image %s, user %s", docker.RelayName, st.IP, st.Image, st.User), ""})
	}
	// Only a binary the relay could run names the image it should run
	// (Docker Desktop's relay runs a Linux build given to setup).
	if env.Binary != "" && docker.CheckBinary(env.Binary, eng.Arch) == nil {
		if tag, err := docker.ImageTag(env.Binary); err == nil && tag != st.Image {
			out = append(out, Check{"docker relay image", Warn, fmt.Sprintf("the relay runs %s; this brokerd would be %s", st.Image, tag), "brokerd docker setup (after an upgrade of brokerd)"})
		}
	}
	if len(st.Mounts) > 0 {
		sock := filepath.Join(relayDir, docker.SocketName)
		if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
			out = append(out, Check{"relay socket", Fail, sock + " is missing: the daemon does not serve the relay", "restart brokerd"})
			return out
		}
	}
	if err := docker.Probe(ctx, env.Docker, st.Image, 0); err != nil {
		out = append(out, Check{"docker relay", Fail, err.Error(), "brokerd docker setup; if that does not help, docker logs " + docker.RelayName})
	} else {
		out = append(out, Check{"docker relay", OK, "a container on network " + docker.Network + " reaches brokerd through the relay", ""})
	}
	return out
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
