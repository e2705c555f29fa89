// Package motoserver runs moto_server, a fake AWS (STS and IAM among
// others), on a free port for tests: Run for one test, Start and Stop for
// a server shared by a whole test binary.
package motoserver

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the program Start runs; `pip install 'moto[server]'` puts it
// on PATH.
const binary = "moto_server"

const (
	// attempts is how often Start tries a new port when moto_server exits
	// at start: the port found free may be taken before moto binds it.
	attempts = 3
	// readyTimeout bounds the wait for moto_server to answer; it takes a
	// few seconds to import on a loaded machine.
	readyTimeout = time.Minute
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second
)

// Server is a running moto_server.
type Server struct {
	URL string // http://HOST:PORT, without a trailing slash

	cmd      *exec.Cmd
	logPath  string
	exited   chan struct{} // closed when the process has been waited for
	stopOnce sync.Once
}

// Run starts a moto_server on loopback for the test, with its output in
// t.TempDir(), stops it when the test ends, and returns its URL. It fails
// the test when moto_server does not start.
func Run(t testing.TB) string {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s.URL
}

// Start starts moto_server on a free port of 127.0.0.1 and returns once
// it answers, with its output in a new file in dir (see Log). Call Stop
// when done; on Linux moto_server also dies with the calling process.
func Start(dir string) (*Server, error) { return StartOn(dir, "127.0.0.1") }

// StartOn is Start on host, an address of this machine other than
// loopback (a Docker bridge's gateway, say) for clients that cannot reach
// loopback.
func StartOn(dir, host string) (*Server, error) {
	if _, err := exec.LookPath(binary); err != nil {
		return nil, fmt.Errorf("%s is not on PATH: install it with pip install 'moto[server]': %w", binary, err)
	}
	var err error
	for range attempts {
		var s *Server
		if s, err = start(dir, host); !errors.Is(err, errExited) {
			return s, err
		}
	}
	return nil, err
}

// errExited is start's error when moto_server exits before it answers,
// most likely because another process took the port first.
var errExited = errors.New("exited at start")

func start(dir, host string) (*Server, error) {
	port, err := freePort(host)
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp(dir, "moto_server-"+port+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("create moto_server's log file: %w", err)
	}
	defer logFile.Close() // moto_server has its own descriptor
	s := &Server{
		URL:     "http://" + net.JoinHostPort(host, port),
		logPath: logFile.Name(),
		exited:  make(chan struct{}),
	}
	s.cmd = exec.Command(binary, "-H", host, "-p", port)
	s.cmd.Env = environ()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	configure(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()

	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls GET /moto-api/ until it answers 200, moto_server exits
// (errExited) or readyTimeout passes.
func (s *Server) waitReady() error {
	// No proxy, whatever the environment says (Go skips proxies only for
	// loopback), and no request outlasting the deadline by much.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	for {
		if resp, err := client.Get(s.URL + "/moto-api/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%s on %s %w (%v); its output:\n%s", binary, s.URL, errExited, s.cmd.ProcessState, s.Log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s did not answer GET /moto-api/ within %v; its output:\n%s", binary, s.URL, readyTimeout, s.Log())
		}
	}
}

// Log returns what moto_server has printed so far: its start-up lines and
// one line per request.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", s.logPath, err)
	}
	return string(b)
}

// Stop ends moto_server: SIGTERM, then SIGKILL after 5 s. It returns when
// the process has exited; calling it again does nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		terminate(s.cmd)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			kill(s.cmd)
			<-s.exited
		}
	})
}

// freePort returns a TCP port of host that was free a moment ago.
func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port for %s: %w", binary, err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// environ is this process's environment without AWS_, BROKERD_ and proxy
// variables. moto_server is a Python program on botocore, which reads
// AWS_ variables (AWS_CONFIG_FILE, AWS_PROFILE, AWS_DATA_PATH,
// AWS_CA_BUNDLE, AWS_ENDPOINT_URL…), and the variables a test or the
// developer's shell set (`eval "$(brokerd env)"`, keys, a session token)
// are not moto's to read, nor its to pass on; nor should Python's HTTP
// libraries send anything through a proxy.
func environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BROKERD_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
