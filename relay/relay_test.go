package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/relay"
	"github.com/brokerd/brokerd/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is what the daemon's side received.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTeapot)
	io.WriteString(w, `{"code":"FromDaemon","message":"answered"}`)
}

func (s *seen) last(t *testing.T) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the daemon received nothing")
	}
	return s.reqs[len(s.reqs)-1]
}

// daemon serves d on a Unix socket, as the daemon's relay socket.
func daemon(t *testing.T, d http.Handler) string {
	dir, err := os.MkdirTemp("", "relay")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "relay.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: d}}
	srv.Start()
	t.Cleanup(srv.Close)
	return path
}

// The relay forwards the credentials paths unchanged, Authorization and
// Host included, and says which address asked, over any such header the
// client sent.
func TestHandler_Forwards(t *testing.T) {
	d := &seen{}
	h, err := relay.Handler(relay.Config{Socket: daemon(t, d)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/v1/credentials/prod", "/v1/credentials", "/v1/credentials/a%2Cb"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Host = wire.RelayAddr
		req.Header.Set("Authorization", "bdc_secret")
		req.Header.Set("Accept", "application/json")
		req.Header.Set(wire.HeaderRelayClient, "169.254.170.99") // a container lying
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTeapot || !strings.Contains(string(body), "FromDaemon") {
			t.Errorf("GET %s = %d %s, want the daemon's answer", path, resp.StatusCode, body)
		}
		got := d.last(t)
		if got.URL.RequestURI() != path || got.Host != wire.RelayAddr || got.Header.Get("Authorization") != "bdc_secret" ||
			got.Header.Get("Accept") != "application/json" {
			t.Errorf("the daemon got %s %s Host %q Authorization %q, want %s unchanged", got.Method, got.URL.RequestURI(), got.Host, got.Header.Get("Authorization"), path)
		}
		if v := got.Header.Values(wire.HeaderRelayClient); len(v) != 1 || v[0] != "127.0.0.1" {
			t.Errorf("%s = %q, want the client's own address only", wire.HeaderRelayClient, v)
		}
	}
}

// Other paths, and a request without a Host (HTTP/1.0: the daemon would
// see the Host of the relay's own connection to it), are answered by the
// relay itself.
func TestHandler_AnsweredByRelay(t *testing.T) {
	d := &seen{}
	h, err := relay.Handler(relay.Config{Socket: daemon(t, d)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, host string
		status     int
		code, says string
	}{
		{"/", "example.com", 404, "NotFound", "no such path"},
		{"/healthz", "example.com", 404, "NotFound", "no such path"},
		{"/v1/credentialsx", "example.com", 404, "NotFound", "no such path"},
		{"/v1/status", "example.com", 404, "NotFound", "no such path"},
		{"/v1/credentials/prod", "", 403, "InvalidHost", "no Host header"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.path, nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var body wire.Error
		if w.Code != tt.status || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Code != tt.code || !strings.Contains(body.Message, tt.says) {
			t.Errorf("GET %s (Host %q) = %d %s, want %d %s saying %q", tt.path, tt.host, w.Code, w.Body, tt.status, tt.code, tt.says)
		}
	}
	if len(d.reqs) != 0 {
		t.Errorf("the daemon received %d requests, want none", len(d.reqs))
	}
}

// A request with a body is answered at once, its connection closed, and
// not forwarded: a body that never ends would hold the relay's connection
// past every timeout.
func TestHandler_Bodies(t *testing.T) {
	d := &seen{}
	h, err := relay.Handler(relay.Config{Socket: daemon(t, d)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // ends a failing test only
	fmt.Fprintf(c, "GET /v1/credentials/prod HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", wire.RelayAddr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer while the body is unfinished: %v", err)
	}
	var body wire.Error
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || body.Code != "RequestBody" || !resp.Close {
		t.Errorf("answer %d %+v (close %v), want 400 RequestBody and the connection closed", resp.StatusCode, body, resp.Close)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the answer: read %d, %v; want the connection closed (EOF)", n, err)
	}
	if len(d.reqs) != 0 {
		t.Errorf("the daemon received %d requests, want none", len(d.reqs))
	}
}

// Without the daemon the relay answers 503, which SDKs retry, and asks
// whether brokerd runs; a daemon that closed the connection without an
// answer (it stopped or restarted meanwhile) is asked about too.
func TestHandler_DaemonDown(t *testing.T) {
	closing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	})
	for _, tt := range []struct {
		name, socket, message, line string
	}{
		{"no daemon", filepath.Join(t.TempDir(), "none.sock"), "cannot connect to the daemon: is brokerd running", "cannot reach brokerd"},
		{"closed", daemon(t, closing), "closed the connection without answering", "brokerd closed the connection without answering"},
	} {
		core, logs := observer.New(zap.DebugLevel)
		h, err := relay.Handler(relay.Config{Socket: tt.socket, Log: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/credentials/prod", nil))
		if w.Code != 503 || !strings.Contains(w.Body.String(), "BrokerdUnavailable") || !strings.Contains(w.Body.String(), tt.message) ||
			w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want 503 BrokerdUnavailable as JSON saying %q", tt.name, w.Code, w.Body, tt.message)
		}
		if all := logs.All(); len(all) != 1 || all[0].Message != tt.line {
			t.Errorf("%s: the relay logged %v, want %q", tt.name, all, tt.line)
		}
	}
}

// A daemon that accepts the request and does not answer in time runs but
// is slow or stuck: the relay says so, and where to look, rather than ask
// whether brokerd runs; its log line says the same. A daemon that accepts
// no connection (its socket's queue full) is stuck too.
func TestHandler_DaemonSlow(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stuck })
	full := filepath.Join(t.TempDir(), "full.sock")
	fd := listenFull(t, full)
	defer syscall.Close(fd)
	for _, tt := range []struct {
		name, socket string
	}{
		{"no answer", daemon(t, slow)},
		{"no accept", full},
	} {
		core, logs := observer.New(zap.DebugLevel)
		h, err := relay.Handler(relay.Config{Socket: tt.socket, Log: zap.New(core), HeaderTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/credentials/prod", nil))
		var body struct{ Code, Message string }
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != http.StatusGatewayTimeout || body.Code != "BrokerdNotAnswering" || strings.Contains(body.Message, "running") ||
			!strings.Contains(body.Message, "brokerd status") || !strings.Contains(body.Message, "log") {
			t.Errorf("%s: %d %s; want 504 BrokerdNotAnswering saying the daemon is slow or stuck and where to look", tt.name, w.Code, w.Body)
		}
		if all := logs.All(); len(all) != 1 || all[0].Message != "brokerd does not answer" {
			t.Errorf("%s: the relay logged %v, want one line that brokerd does not answer", tt.name, all)
		}
	}
}

// listenFull listens on a Unix socket at path that accepts no connection
// and holds one queued already, so that the next connect finds its queue
// full (EAGAIN), as a stuck daemon's does.
func listenFull(t *testing.T, path string) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return fd
}

// A container that gives up while the daemon fetches (JS and Java SDKs
// wait 1 s) is no sign of a daemon the relay cannot reach: the relay
// logged "cannot reach brokerd" for it, which sent the developer reading
// docker logs brokerd-relay to look for a daemon that ran.
func TestHandler_ClientGone(t *testing.T) {
	fetching := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(fetching)
		<-r.Context().Done()
	})
	core, logs := observer.New(zap.DebugLevel)
	h, err := relay.Handler(relay.Config{Socket: daemon(t, slow), Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-fetching
		cancel()
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/credentials/prod", nil))
	if n := logs.Len(); n != 0 {
		t.Errorf("the relay logged %v for a client that left, want nothing", logs.All())
	}
}

// Through the loopback port (Docker Desktop), the Host header is the
// relay's still.
func TestHandler_Upstream(t *testing.T) {
	d := &seen{}
	srv := httptest.NewServer(d)
	defer srv.Close()
	h, err := relay.Handler(relay.Config{Upstream: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://"+wire.RelayAddr+"/v1/credentials/prod", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got := d.last(t).Host; got != wire.RelayAddr {
		t.Errorf("Host = %q, want %s", got, wire.RelayAddr)
	}
	for _, bad := range []string{"https://x:1", "http://x", "http://x:1/path", ""} {
		if _, err := relay.Handler(relay.Config{Upstream: bad}); err == nil {
			t.Errorf("Handler(Upstream %q) = nil error", bad)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"169.254.170.2:80": true, "127.0.0.1:8080": true, "[fd00:ec2::23]:80": true,
		"0.0.0.0:80": false, ":80": false, "10.0.0.2:80": false, "192.168.1.2:80": false, "169.254.170.2": false,
	} {
		if err := relay.CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		io.WriteString(w, `{"code":"MissingToken","message":"no"}`)
	}))
	defer srv.Close()
	if err := relay.Probe(context.Background(), srv.URL); err != nil {
		t.Errorf("Probe(a daemon's 401) = %v", err)
	}
	bad := httptest.NewServer(http.NotFoundHandler())
	defer bad.Close()
	if err := relay.Probe(context.Background(), bad.URL); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Probe(404) = %v, want an error naming 404", err)
	}
}

// Serve holds at most its cap of connections: a container that opens
// connections and keeps them idle has its oldest closed, and a real
// client's request is still answered.
func TestServe_CapsConnections(t *testing.T) {
	const max = 4
	d := &seen{}
	h, err := relay.Handler(relay.Config{Socket: daemon(t, d)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Serve(ctx, ln, max, h) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := ln.Addr().String()

	get := fmt.Sprintf("GET /v1/credentials/prod HTTP/1.1\r\nHost: %s\r\n\r\n", wire.RelayAddr)
	var idle []*bufio.Reader
	var conns []net.Conn
	for range 3 * max {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second)) // ends a failing test only
		io.WriteString(c, get)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection %d: no answer: %v", len(idle), err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		idle = append(idle, br) // kept open, idle
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/v1/credentials/prod")
	if err != nil {
		t.Fatalf("GET with the relay full of idle connections: %v, want an answer", err)
	}
	resp.Body.Close()
	// The relay holds max connections, the GET's among them: the others
	// were closed. Which ones is the cap's order (conns' tests): a
	// connection turns idle just after its answer, which on a loaded
	// machine can come after the next connection's accept.
	var open []int
	for i, br := range idle {
		conns[i].SetReadDeadline(time.Now().Add(time.Second)) // a closed one reads EOF at once
		if _, err := br.Read(make([]byte, 1)); err != io.EOF {
			open = append(open, i)
		}
	}
	if len(open) != max-1 {
		t.Errorf("idle connections still open: %v of %d; want %d, the cap (%d) less the GET's", open, len(idle), max-1, max)
	}
}
