// Package docker provides brokerd's Docker setup: the link-local network
// that containers reach the relay on, the relay's image built FROM scratch
// from brokerd's own static binary, the relay container, and the docker run
// arguments that give a container its credentials. It drives the docker
// command line; nothing is pulled from a registry.
package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/brokerd/brokerd/wire"
)

// Names and addresses of brokerd's Docker objects.
const (
	Network   = "brokerd"
	Subnet    = "169.254.170.0/24"
	Gateway   = "169.254.170.1"
	RelayName = "brokerd-relay"
	ImageRepo = "brokerd-relay"
	// LabelKey labels what setup made, with the value "network" or "relay".
	LabelKey = "io.brokerd"
	// SocketDir is where the relay container sees the daemon's relay
	// directory, and SocketName the socket in it.
	SocketDir  = "/run/brokerd"
	SocketName = "relay.sock"
	// TokenFile is where a client container sees its token file.
	TokenFile = "/run/brokerd/token"
)

// RelayURL is the credentials URL of profile as containers reach it.
func RelayURL(profile string) string {
	return "http://" + wire.RelayAddr + wire.CredentialsPath + "/" + url.PathEscape(profile)
}

// Runner runs the docker command line.
type Runner interface {
	// Docker runs docker with args and returns its standard output; its
	// error quotes docker's standard error.
	Docker(ctx context.Context, args ...string) ([]byte, error)
}

// ErrNoDocker means the docker command is not on PATH.
var ErrNoDocker = errors.New("the docker command is not on PATH: install Docker (Docker Engine on Linux, Docker Desktop on macOS)")

// CLI is the docker command on PATH, run in this process's environment
// (DOCKER_HOST, DOCKER_CONTEXT).
type CLI struct{}

// Docker runs docker with args.
func (CLI) Docker(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, ErrNoDocker
		}
		msg := oneLine(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.Bytes(), &Error{Args: args, Message: msg}
	}
	return stdout.Bytes(), nil
}

// oneLine is docker's standard error on one line, without the "exit
// status N" that some versions add to it.
func oneLine(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "exit status ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// Error is a docker command that failed.
type Error struct {
	Args    []string
	Message string // its standard error, on one line
}

func (e *Error) Error() string {
	if problem, fix := e.Unreachable(); problem != "" {
		return problem + ": " + fix
	}
	n := min(len(e.Args), 2)
	return fmt.Sprintf("docker %s: %s", strings.Join(e.Args[:n], " "), e.Message)
}

// Unreachable says, when docker could not reach its engine, what is wrong
// and what to do; "", "" when docker said something else.
func (e *Error) Unreachable() (problem, fix string) {
	m := e.Message
	if _, rest, ok := strings.Cut(m, "permission denied while trying to connect to the Docker daemon socket at "); ok {
		addr, _, _ := strings.Cut(rest, ": ")
		return "no permission to use the Docker engine at " + addr,
			"add your user to the docker group (sudo usermod -aG docker $USER, then log in again), or set DOCKER_HOST to an engine of yours"
	}
	if _, rest, ok := strings.Cut(m, "Cannot connect to the Docker daemon at "); ok {
		addr, _, _ := strings.Cut(rest, ". Is the docker daemon running?")
		return "no Docker engine answers at " + addr,
			"start Docker (sudo systemctl start docker; on macOS, open Docker Desktop), or set DOCKER_HOST or DOCKER_CONTEXT to an engine that runs"
	}
	if _, rest, ok := strings.Cut(m, "unable to resolve docker endpoint: "); ok {
		return "docker cannot find its engine (" + rest + ")", "fix DOCKER_CONTEXT or DOCKER_HOST (docker context ls lists the contexts)"
	}
	return "", ""
}

func (e *Error) unreachable() bool {
	problem, _ := e.Unreachable()
	return problem != ""
}

// isNotFound reports whether err is docker's answer about a missing object.
func isNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	m := strings.ToLower(e.Message)
	for _, s := range []string{"no such container", "no such network", "no such image", "no such object", "network " + Network + " not found"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// Engine is what setup needs to know of the Docker engine.
type Engine struct {
	Version string
	Arch    string // GOARCH spelling: amd64, arm64
	// Rootless is true for a rootless engine, whose containers' root is
	// the user who runs it.
	Rootless bool
	// Desktop is true for Docker Desktop, whose containers cannot reach
	// the host's Unix sockets: the relay then uses host.docker.internal.
	Desktop bool
}

// Inspect asks the engine what it is.
func Inspect(ctx context.Context, r Runner) (Engine, error) {
	out, err := r.Docker(ctx, "version", "--format", "{{.Server.Version}}|{{.Server.Arch}}")
	if err != nil {
		return Engine{}, engineError(err)
	}
	v, arch, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	e := Engine{Version: v, Arch: arch}
	if out, err := r.Docker(ctx, "info", "--format", "{{json .SecurityOptions}}|{{.OperatingSystem}}"); err == nil {
		s := string(out)
		e.Rootless = strings.Contains(s, "name=rootless")
		e.Desktop = strings.Contains(s, "Docker Desktop")
	}
	return e, nil
}

// engineError is err, from docker version, as an error that says what to
// do: docker's own when it says why it could not reach the engine.
func engineError(err error) error {
	var de *Error
	if errors.Is(err, ErrNoDocker) || errors.As(err, &de) && de.unreachable() {
		return err
	}
	return fmt.Errorf("cannot reach a Docker engine: start Docker, or set DOCKER_HOST (%w)", err)
}

// EnsureNetwork creates brokerd's network unless it exists, and checks the
// subnet of one that does. It reports whether it created it.
func EnsureNetwork(ctx context.Context, r Runner) (bool, error) {
	err := CheckNetwork(ctx, r)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNoNetwork) {
		return false, err
	}
	if _, err := r.Docker(ctx, "network", "create", "--driver", "bridge", "--subnet", Subnet, "--gateway", Gateway,
		"--label", LabelKey+"=network", Network); err != nil {
		return false, fmt.Errorf("create network %s on %s: %w", Network, Subnet, err)
	}
	return true, nil
}

// ErrNoNetwork means brokerd's network does not exist.
var ErrNoNetwork = errors.New("network " + Network + " does not exist: run brokerd docker setup")

// CheckNetwork reports whether brokerd's network exists on its subnet:
// ErrNoNetwork when it does not exist.
func CheckNetwork(ctx context.Context, r Runner) error {
	out, err := r.Docker(ctx, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}", Network)
	if isNotFound(err) {
		return ErrNoNetwork
	}
	if err != nil {
		return err
	}
	got := strings.TrimSpace(string(out))
	if got != Subnet+" "+Gateway+";" {
		return fmt.Errorf("network %s exists with subnet and gateway %q, not %s %s: remove it (docker network rm %s) and run brokerd docker setup",
			Network, strings.TrimSuffix(got, ";"), Subnet, Gateway, Network)
	}
	return nil
}

// CheckBinary reports why the file at path cannot run in a FROM scratch
// image on an engine of arch (GOARCH spelling): it must be a static Linux
// executable for that architecture.
func CheckBinary(path, arch string) error {
	build := fmt.Sprintf("GOOS=linux GOARCH=%s CGO_ENABLED=0 go build -o brokerd-linux ./cmd/brokerd", arch)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("brokerd's binary: %w: build it with %s and pass --binary brokerd-linux", err, build)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable: the relay runs brokerd for Linux in a container; build it with %s and pass --binary brokerd-linux", path, build)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
		"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}
	if m, ok := want[arch]; ok && f.Machine != m {
		return fmt.Errorf("%s is built for %v, the Docker engine runs %s: build it with %s and pass --binary brokerd-linux", path, f.Machine, arch, build)
	}
	dynamic := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		dynamic = true
	}
	if dynamic {
		return fmt.Errorf("%s is linked dynamically (built with cgo), and the relay image is built FROM scratch, without a C library: rebuild brokerd with CGO_ENABLED=0 go build ./cmd/brokerd, or pass --binary with a static build", path)
	}
	return nil
}

// ImageTag is the relay image's name for the binary at path: its content
// names it, so that a new brokerd makes a new image.
func ImageTag(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read brokerd's binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read brokerd's binary: %w", err)
	}
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// dockerfile builds the relay image from the binary alone.
const dockerfile = `FROM scratch
COPY brokerd /brokerd
ENTRYPOINT ["/brokerd", "relay"]
`

// EnsureImage builds the relay image tag from the binary at path unless
// the engine has it. It reports whether it built it.
func EnsureImage(ctx context.Context, r Runner, path, tag string) (bool, error) {
	if _, err := r.Docker(ctx, "image", "inspect", "--format", "{{.Id}}", tag); err == nil {
		return false, nil
	}
	dir, err := os.MkdirTemp("", "brokerd-relay-image-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(path, filepath.Join(dir, "brokerd")); err != nil {
		return false, fmt.Errorf("prepare the relay image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o600); err != nil {
		return false, fmt.Errorf("prepare the relay image: %w", err)
	}
	if _, err := r.Docker(ctx, "build", "-q", "-t", tag, "--label", LabelKey+"=relay", dir); err != nil {
		return false, fmt.Errorf("build the relay image: %w", err)
	}
	return true, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
