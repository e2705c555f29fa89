//go:build linux

package peer_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
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

// metered is a peer.Search that allows every search and adds up what
// they cost.
type metered struct {
	mu    sync.Mutex
	spent time.Duration
}

func (m *metered) Allow() bool { return true }

func (m *metered) Spent(d time.Duration) {
	m.mu.Lock()
	m.spent += d
	m.mu.Unlock()
}

type deny struct{}

func (deny) Allow() bool         { return false }
func (deny) Spent(time.Duration) {}

// With a client of 3,000 fds among the processes found last, a new
// client of the same user is not taken for it, and the client's own new
// sockets are found without a search.
func TestLookup_BesideManyFds(t *testing.T) {
	l := listen(t, "tcp4")
	f := peer.New(peer.Config{})
	pid, next := fatClient(t, l)
	c := next()
	if got, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil || got.PID != pid {
		t.Fatalf("Lookup of the client = %+v, %v; want pid %d", got, err, pid)
	}
	_, s := pair(t, l) // this process's: not a recent one
	if got, err := f.LookupLimited(s.LocalAddr(), s.RemoteAddr(), &metered{}); err != nil || got.PID != os.Getpid() {
		t.Errorf("LookupLimited of this process's socket = %+v, %v; want pid %d", got, err, os.Getpid())
	}
	for i := range 3 {
		c = next()
		if got, err := f.LookupLimited(c.LocalAddr(), c.RemoteAddr(), deny{}); err != nil || got.PID != pid {
			t.Errorf("LookupLimited of the client's socket %d, no search allowed = %+v, %v; want pid %d", i+2, got, err, pid)
		}
	}
}

// dialer starts a client process that dials l once, and returns the
// accepted end of its connection and a func that ends the process.
func dialer(tb testing.TB, l net.Listener) (net.Conn, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PEER_TEST_DIAL="+l.Addr().String())
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
	c, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != c.RemoteAddr().String() {
		tb.Fatalf("client printed %q, %v; want %v", line, err, c.RemoteAddr())
	}
	return c, func() { c.Close(); stdin.Close(); cmd.Wait() }
}

// BenchmarkFinder_BesideManyFds is the lookup of a new client process
// while a client holding 3,000 fds, which has just made a connection, is
// among the processes found last; with a search of every process allowed
// and without one. It reports apart the CPU time charged to the search
// budget (budgeted-ns/op): the rest of the time is spent outside it.
func BenchmarkFinder_BesideManyFds(b *testing.B) {
	for _, allowed := range []bool{true, false} {
		name := "search"
		if !allowed {
			name = "no-search"
		}
		b.Run(name, func(b *testing.B) {
			l := listen(b, "tcp4")
			f := peer.New(peer.Config{})
			pid, next := fatClient(b, l)
			m := &metered{}
			var s peer.Search = m
			if !allowed {
				s = deny{}
			}
			for b.Loop() {
				b.StopTimer()
				c := next() // it stays the most recent client
				if got, err := f.Lookup(c.LocalAddr(), c.RemoteAddr()); err != nil || got.PID != pid {
					b.Fatalf("Lookup of the client = %+v, %v; want pid %d", got, err, pid)
				}
				conn, stop := dialer(b, l)
				b.StartTimer()
				f.LookupLimited(conn.LocalAddr(), conn.RemoteAddr(), s)
				b.StopTimer()
				stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(m.spent.Nanoseconds())/float64(b.N), "budgeted-ns/op")
		})
	}
}
