//go:build linux

package peer_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/peer"
)

// With PEER_TEST_DIAL set, the test binary is a client: it dials the
// address, prints its local address and waits for its stdin to close;
// with PEER_TEST_FDS=N too, it first opens N files, and dials again for
// each line it reads.
func TestMain(m *testing.M) {
	if addr := os.Getenv("PEER_TEST_DIAL"); addr != "" {
		n, _ := strconv.Atoi(os.Getenv("PEER_TEST_FDS"))
		var files []*os.File
		for range n {
			f, err := os.Open(os.DevNull)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			files = append(files, f)
		}
		in := bufio.NewReader(os.Stdin)
		for {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Println(c.LocalAddr())
			if _, err := in.ReadString('\n'); err != nil || n == 0 {
				break
			}
		}
		os.Exit(len(files) - n)
	}
	os.Exit(m.Run())
}

func executable(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	return exe
}

// listen returns a listener on loopback, skipping when network (tcp4 or
// tcp6) has no loopback here.
func listen(t testing.TB, network string) net.Listener {
	addr := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pair returns both ends of a loopback connection made in this process.
func pair(t testing.TB, l net.Listener) (client, server net.Conn) {
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// The real /proc: a connection made by this process is found to be this
// process's.
func TestLookup_Self(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			_, c := pair(t, listen(t, network))
			got, err := peer.Lookup(c.LocalAddr(), c.RemoteAddr())
			if err != nil {
				t.Fatalf("Lookup(%v, %v) = %v", c.LocalAddr(), c.RemoteAddr(), err)
			}
			if got.PID != os.Getpid() || got.Exe != executable(t) || got.UID != os.Geteuid() {
				t.Errorf("Lookup(%v, %v) = %+v, want pid %d, exe %s, uid %d, a command line starting %s",
					c.LocalAddr(), c.RemoteAddr(), got, os.Getpid(), executable(t), os.Geteuid(), os.Args[0])
			}
		})
	}
}

// The real /proc: a client in another process is that process, not the
// server holding the other end.
func TestLookup_Child(t *testing.T) {
	c, cmd := dialingChild(t, os.Args[0], "-test.run=^$")
	got, err := peer.New(peer.Config{}).Lookup(c.LocalAddr(), c.RemoteAddr())
	want := peer.Process{PID: cmd.Process.Pid, UID: os.Geteuid(), Exe: executable(t), Searched: true}
	if err != nil || got != want {
		t.Errorf("Lookup(%v, %v) = %+v, %v; want %+v", c.LocalAddr(), c.RemoteAddr(), got, err, want)
	}
}

// dialingChild runs argv, this test binary (perhaps under a wrapper),
// which dials PEER_TEST_DIAL and prints its own address; it returns the
// server's end of that connection, and the child, which runs until the
// test ends.
func dialingChild(t *testing.T, argv ...string) (net.Conn, *exec.Cmd) {
	t.Helper()
	l := listen(t, "tcp4")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PEER_TEST_DIAL="+l.Addr().String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != c.RemoteAddr().String() {
		t.Fatalf("child printed %q, %v; want %v", line, err, c.RemoteAddr())
	}
	return c, cmd
}

// Once the client has gone, its socket is not found or has no process.
func TestLookup_ClosedClient(t *testing.T) {
	client, c := pair(t, listen(t, "tcp4"))
	client.Close()
	got, err := peer.Lookup(c.LocalAddr(), c.RemoteAddr())
	if !errors.Is(err, peer.ErrNotFound) && !errors.Is(err, peer.ErrNoProcess) {
		t.Errorf("Lookup after the client closed = %+v, %v; want ErrNotFound or ErrNoProcess", got, err)
	}
}

// BenchmarkLookup is an uncached lookup on the real system: the socket
// table read, then a search of every process this user can read.
func BenchmarkLookup(b *testing.B) {
	_, c := pair(b, listen(b, "tcp4"))
	b.ReportMetric(float64(processes(b)), "procs")
	for b.Loop() {
		if _, err := peer.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinder_NewSocket is a Finder's lookup of a new socket of a
// client it found before: the socket table read, then that client's fds.
func BenchmarkFinder_NewSocket(b *testing.B) {
	l := listen(b, "tcp4")
	f := peer.New(peer.Config{Size: 1})
	_, c1 := pair(b, l)
	_, c2 := pair(b, l)
	conns := []net.Conn{c1, c2} // alternate, so the cache never answers
	i := 0
	for b.Loop() {
		c := conns[i%2]
		i++
		if _, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinder_Cached is a Finder's lookup of a socket it has seen:
// the socket table read alone.
func BenchmarkFinder_Cached(b *testing.B) {
	_, c := pair(b, listen(b, "tcp4"))
	f := peer.New(peer.Config{})
	for b.Loop() {
		if _, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil {
			b.Fatal(err)
		}
	}
}

func processes(b *testing.B) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}
