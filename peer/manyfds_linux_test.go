//go:build linux

package peer_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/peer"
)

// fatClient starts a client process holding 3,000 files that dials l and
// dials again at each call of next; it returns the accepted end of each
// connection.
func fatClient(tb testing.TB, l net.Listener) (pid int, next func() net.Conn) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PEER_TEST_DIAL="+l.Addr().String(), "PEER_TEST_FDS=3000")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); cmd.Wait() })
	out := bufio.NewReader(stdout)
	first := true
	next = func() net.Conn {
		if !first {
			io.WriteString(stdin, "\n")
		}
		first = false
		c, err := l.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		if line, err := out.ReadString('\n'); err != nil || strings.TrimSpace(line) != c.RemoteAddr().String() {
			tb.Fatalf("client printed %q, %v; want %v", line, err, c.RemoteAddr())
		}
		return c
	}
	return cmd.Process.Pid, next
}

type deny struct{}

func (deny) Allow() bool         { return false }
func (deny) Spent(time.Duration) {}

// With a client of 3,000 fds among the processes found last, a new
// client of the same user is not taken for it, and the client's own new
// socket is found, by a search when its fds are not all read again.
func TestLookup_BesideManyFds(t *testing.T) {
	l := listen(t, "tcp4")
	f := peer.New(peer.Config{})
	pid, next := fatClient(t, l)
	c := next()
	if got, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil || got.PID != pid {
		t.Fatalf("Lookup of the client = %+v, %v; want pid %d", got, err, pid)
	}
	_, s := pair(t, l) // this process's: not a recent one
	if got, err := f.LookupLimited(s.LocalAddr(), s.RemoteAddr(), deny{}); !errors.Is(err, peer.ErrNotSearched) {
		t.Errorf("LookupLimited of this process's socket, no search allowed = %+v, %v; want ErrNotSearched", got, err)
	}
	c = next()
	if got, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil || got.PID != pid {
		t.Errorf("Lookup of the client's second socket = %+v, %v; want pid %d", got, err, pid)
	}
}

// BenchmarkFinder_BesideManyFds is the lookup of a new client while a
// client holding 3,000 fds is among the processes found last: at most a
// few hundred of its fd links are read again (all of them, and the listing
// of its fds, took 20 to 100 ms).
func BenchmarkFinder_BesideManyFds(b *testing.B) {
	l := listen(b, "tcp4")
	f := peer.New(peer.Config{})
	pid, next := fatClient(b, l)
	c := next()
	if got, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil || got.PID != pid {
		b.Fatalf("Lookup of the client = %+v, %v; want pid %d", got, err, pid)
	}
	for b.Loop() {
		b.StopTimer()
		client, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		f.LookupLimited(s.LocalAddr(), s.RemoteAddr(), deny{})
		b.StopTimer()
		client.Close()
		s.Close()
		b.StartTimer()
	}
}
