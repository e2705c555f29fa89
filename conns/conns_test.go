package conns_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/brokerd/brokerd/conns"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve serves a handler on a listener capped at max, until the test ends.
func serve(t *testing.T, max int) (*conns.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := conns.Limit(ln.(*net.TCPListener), max)
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: conns.Track,
	}
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(l) })
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return l, ln.Addr().String()
}

// dialIdle opens n connections to addr that never send a request, closed
// when the test ends.
func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var idle []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		idle = append(idle, c)
	}
	return idle
}

func TestListener_ClosesOldestWaiting(t *testing.T) {
	l, addr := serve(t, 4)
	idle := dialIdle(t, addr, 8)
	// A real client still gets its answer at once.
	client := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET with the listener full of waiting connections: %v, want an answer", err)
	}
	resp.Body.Close()
	if n := l.Len(); n > 4 {
		t.Errorf("connections held = %d, want at most 4", n)
	}
	// The first connections were the ones closed.
	idle[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on the oldest waiting connection = %v, want EOF (closed)", err)
	}
}

func TestListener_KeepsBusyConnections(t *testing.T) {
	l, addr := serve(t, 1)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	for range 3 {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := l.Len(); n != 1 {
		t.Errorf("connections held after three requests on one keep-alive connection = %d, want 1", n)
	}
}

func TestListener_ForgetsClosedConnections(t *testing.T) {
	l, addr := serve(t, 4)
	// The listener closes four, the client the others; then none is held.
	idle := dialIdle(t, addr, 8)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range idle {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("connections held after every client closed = %d, want 0", n)
	}
}

// One server on two listeners: each listener holds its own connections
// only.
func TestListener_TracksItsOwnConnections(t *testing.T) {
	var ls [2]*conns.Listener
	var addrs [2]string
	for i := range ls {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls[i], addrs[i] = conns.Limit(ln.(*net.TCPListener), 4), ln.Addr().String()
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: conns.Track,
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { srv.Serve(l) })
	}
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	for range 3 {
		resp, err := client.Get("http://" + addrs[1] + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for ls[1].Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n0, n1 := ls[0].Len(), ls[1].Len(); n0 != 0 || n1 != 0 {
		t.Errorf("connections held after three closed on the second listener = %d and %d, want 0 and 0", n0, n1)
	}
}
