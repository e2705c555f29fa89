package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/peer"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/tokens"
	"github.com/brokerd/brokerd/wire"
)

// fixedCreds serves fixed credentials for the profiles it has.
type fixedCreds map[string]cache.Served

func (f fixedCreds) Get(_ context.Context, name string) (cache.Served, error) {
	if c, ok := f[name]; ok {
		return c, nil
	}
	return cache.Served{}, fault.New(fault.NotFound, "no profile %q", name)
}

var _ server.Credentials = fixedCreds(nil)

func fixedServed(key, role string) cache.Served {
	c := creds.Credentials{Credentials: aws.Credentials{AccessKeyID: key, SecretAccessKey: "secret-" + key, SessionToken: "session-" + key,
		CanExpire: true, Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, RoleARN: role}
	return cache.Served{Credentials: c, Body: []byte(`{"AccessKeyId":"` + key + `"}`)}
}

func testCreds() fixedCreds {
	return fixedCreds{
		"prod": fixedServed("ASIAPRODPRODPROD0001", "arn:aws:iam::999999999999:role/UpdateApp"),
		"dev":  fixedServed("ASIADEVDEVDEVDEV0002", ""),
	}
}

// lines is an audit log's output, kept in memory.
type lines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *lines) Close() error                { return nil }

// events decodes the lines written.
func (l *lines) events(t *testing.T) []audit.Event {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []audit.Event
	dec := json.NewDecoder(bytes.NewReader(l.b.Bytes()))
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("audit log is not JSON lines: %v\n%s", err, l.b.String())
		}
		out = append(out, e)
	}
	return out
}

// newAuditLog returns an audit log in memory and the function that closes
// it and returns its events.
func newAuditLog(t *testing.T, clock clockwork.Clock) (*audit.Log, func() []audit.Event) {
	out := &lines{}
	l := audit.New(out, audit.Config{Clock: clock})
	t.Cleanup(func() { l.Close() })
	return l, func() []audit.Event {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return out.events(t)
	}
}

// auditedServer is the endpoint over httptest, with a as its audit.
func auditedServer(t *testing.T, a *server.Audit) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srv.Listener.Addr().String()},
		DefaultProfile: "prod", Audit: a})
	srv.Config.ConnContext = a.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, c *http.Client, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// A loopback client is named by its process, looked up once per
// connection; requests alike from it are one line with a count, written
// when the outcome changes or the Audit flushes.
func TestAudit_LoopbackClients(t *testing.T) {
	clock := clockwork.NewRealClock()
	l, events := newAuditLog(t, clock)
	a := server.NewAudit(l, server.AuditConfig{Lookup: peer.New(peer.Config{}).LookupLimited, Clock: clock})
	srv := auditedServer(t, a)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	for range 5 {
		if code := get(t, client, srv.URL+"/v1/credentials/prod", benchToken); code != 200 {
			t.Fatalf("GET prod = %d", code)
		}
	}
	if code := get(t, client, srv.URL+"/v1/credentials/dev", benchToken); code != 200 {
		t.Fatalf("GET dev = %d", code)
	}
	if code := get(t, client, srv.URL+"/v1/credentials/prod", "wrong"); code != http.StatusForbidden {
		t.Fatalf("GET with a wrong token = %d, want 403", code)
	}
	client.CloseIdleConnections()
	srv.Close()
	a.Flush()
	if issued, refused := a.Counts(); issued != 6 || refused != 1 {
		t.Errorf("Counts = %d, %d; want 6, 1", issued, refused)
	}

	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	got := events()
	var summary []string
	n := 0
	for _, e := range got {
		if e.Client == nil || e.Client.PID != os.Getpid() || e.Client.Exe != exe || e.Client.UID != os.Geteuid() {
			t.Errorf("event %+v names client %+v, want pid %d exe %s", e, e.Client, os.Getpid(), exe)
		}
		if e.Kind == audit.Issued {
			n += e.N()
		}
		summary = append(summary, strings.Join([]string{string(e.Kind), e.Profile, e.KeyID, e.Code}, " ")+" x"+string(rune('0'+e.N())))
	}
	// A refusal without the token keeps no name (TestAudit_NamesNeedTheToken).
	want := []string{"issued prod ASIA…0001  x1", "issued prod ASIA…0001  x4", "issued dev ASIA…0002  x1", "refused   InvalidToken x1"}
	if strings.Join(summary, "; ") != strings.Join(want, "; ") {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
	}
	if n != 6 {
		t.Errorf("the log counts %d issuances, want 6", n)
	}
	for _, e := range got {
		if e.Count > 1 && (e.Until.Before(e.Time) || e.Until.IsZero()) {
			t.Errorf("a line of repeats runs from %v until %v", e.Time, e.Until)
		}
	}
}

// A request through a handler that no http.Server with ConnContext
// serves is still written, without a client.
func TestAudit_NoConnContext(t *testing.T) {
	l, events := newAuditLog(t, clockwork.NewRealClock())
	a := server.NewAudit(l, server.AuditConfig{})
	h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}, Audit: a})
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/dev", nil)
		r.Header.Set("Authorization", benchToken)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	got := events()
	if len(got) != 2 || got[0].Profile != "dev" || got[0].Client != nil || got[0].KeyID != "ASIA…0002" {
		t.Errorf("events = %+v, want two issuances of dev without a client", got)
	}
}

// Run writes the counts of repeats every FlushEvery, while the connection
// stays open.
func TestAudit_RunFlushes(t *testing.T) {
	clock := clockwork.NewFakeClock()
	out := &lines{}
	l := audit.New(out, audit.Config{Clock: clock})
	defer l.Close()
	a := server.NewAudit(l, server.AuditConfig{Clock: clock, FlushEvery: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}, Audit: a})
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/prod", nil)
	r.Header.Set("Authorization", benchToken)
	r = r.WithContext(a.ConnContext(context.Background(), c1))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	clock.BlockUntilContext(context.Background(), 1)
	clock.Advance(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for len(out.events(t)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := out.events(t)
	if len(got) != 2 || got[0].N() != 1 || got[1].N() != 2 || !got[1].Until.Equal(clock.Now()) {
		t.Fatalf("events = %+v, want the first request, then a line for its 2 repeats until now", got)
	}
}

// A client that opens a connection per request (the aws CLI's retries, an
// SDK without keep-alive) is looked up each time, and its requests alike
// are counted as one line: the log does not grow by a line a request.
func TestAudit_ClientsNotConnections(t *testing.T) {
	clock := clockwork.NewRealClock()
	l, events := newAuditLog(t, clock)
	a := server.NewAudit(l, server.AuditConfig{Lookup: peer.New(peer.Config{}).LookupLimited, Clock: clock})
	srv := auditedServer(t, a)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for range 10 {
		if code := get(t, client, srv.URL+"/v1/credentials/prod", benchToken); code != 200 {
			t.Fatalf("GET prod = %d", code)
		}
	}
	if kept := a.Flush(); kept != 1 {
		t.Errorf("Flush kept %d clients, want 1", kept)
	}
	if kept := a.Flush(); kept != 0 {
		t.Errorf("Flush kept %d clients unused since the last, want 0", kept)
	}
	// Forgotten: its next request is a line of its own.
	if code := get(t, client, srv.URL+"/v1/credentials/prod", benchToken); code != 200 {
		t.Fatalf("GET prod = %d", code)
	}
	srv.Close()
	a.Flush()
	got := events()
	if len(got) != 3 || got[0].N() != 1 || got[1].N() != 9 || got[2].N() != 1 {
		t.Fatalf("events = %+v, want a line for the first request, one counting the 9 others, and one for the request after the client was forgotten", got)
	}
	for _, e := range got {
		if e.Client == nil || e.Client.PID != os.Getpid() {
			t.Errorf("event %+v names client %+v, want pid %d", e, e.Client, os.Getpid())
		}
	}
}

// The hot path: a cached request on a connection already looked up costs
// no allocation with the audit on.
func TestAudit_NoAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	h, r, w := auditedBench(t, clockwork.NewFakeClock())
	serve := func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	for range 20 {
		serve()
	}
	if n := testing.AllocsPerRun(500, serve); n != 0 {
		t.Errorf("a cached request with the audit on allocates %v times, want 0", n)
	}
}

// auditedBench is BenchmarkCredentials's handler with an audit, and a
// request on a connection of its own.
func auditedBench(tb testing.TB, clock clockwork.Clock) (http.Handler, *http.Request, *discard) {
	cr := benchCreds()
	c := cache.New(func(context.Context, string) (creds.Credentials, error) { return cr, nil }, cache.Config{})
	tb.Cleanup(c.Close)
	out := &lines{}
	l := audit.New(out, audit.Config{Clock: clock})
	tb.Cleanup(func() { l.Close() })
	a := server.NewAudit(l, server.AuditConfig{Clock: clock})
	h := server.New(c, server.Config{Token: benchToken, Hosts: []string{srvHost}, DefaultProfile: "prod", Clock: clock, Audit: a})
	r := benchRequest().WithContext(connContext(tb, a))
	return h, r, &discard{h: http.Header{}}
}

// BenchmarkCredentials_Audited is BenchmarkCredentials/discard with the
// audit on: the repeats of a connection are counted.
func BenchmarkCredentials_Audited(b *testing.B) {
	h, r, w := auditedBench(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// A client asking for a new impossible name each time makes one line with
// a count, not a line a request.
func TestAudit_BadNamesCoalesce(t *testing.T) {
	l, events := newAuditLog(t, clockwork.NewRealClock())
	a := server.NewAudit(l, server.AuditConfig{})
	h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}, Audit: a})
	ctx := connContext(t, a)
	for i := range 100 {
		name := strings.Repeat("a", 5000) + strconv.Itoa(i)
		if i%2 == 0 {
			name = "\xff\xfe" + strconv.Itoa(i)
		}
		r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/"+url.PathEscape(name), nil).WithContext(ctx)
		r.Header.Set("Authorization", benchToken)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	a.Flush()
	got := events()
	n := 0
	for _, e := range got {
		if e.Code == "InvalidProfileName" {
			n += e.N()
			if e.Profile != "" {
				t.Errorf("a refusal of an impossible name keeps it: %.40q", e.Profile)
			}
		}
	}
	if n != 100 || len(got) != 2 {
		t.Errorf("%d lines counting %d refusals of impossible names; want 2 lines, 100 refusals: %+v", len(got), n, got)
	}
}

// A refusal keeps the name asked for only when the request carries the
// token: a client without it, asking for a new name each time, makes one
// line with a count, so it cannot rotate the log's history away, nor write
// lines of its choosing.
func TestAudit_NamesNeedTheToken(t *testing.T) {
	l, events := newAuditLog(t, clockwork.NewRealClock())
	a := server.NewAudit(l, server.AuditConfig{})
	h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}, Audit: a})
	ctx := connContext(t, a)
	send := func(host, name, token string) {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/v1/credentials/"+url.PathEscape(name), nil).WithContext(ctx)
		if token != "" {
			r.Header.Set("Authorization", token)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	for _, refusal := range []struct{ host, token string }{{srvHost, ""}, {srvHost, "wrong"}, {"evil.example", ""}} {
		for i := range 50 {
			send(refusal.host, "forged-"+strconv.Itoa(i), refusal.token)
		}
	}
	send(srvHost, "missing", benchToken)
	// The relay's handler too, before it checks the container token.
	store, err := tokens.Open(tokens.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h = server.NewRelay(testCreds(), server.RelayConfig{Tokens: store, Audit: a})
	for i := range 50 {
		send(wire.RelayAddr, "forged-"+strconv.Itoa(i), "")
	}
	a.Flush()
	var lines []string
	for _, e := range events() {
		lines = append(lines, fmt.Sprintf("%s %q %s x%d", e.Kind, e.Profile, e.Code, e.N()))
	}
	// The first refusal of each kind without the token is written at
	// once, its repeats as one line at the flush.
	// An outcome other than those (the authorised request) writes what is
	// pending first.
	want := []string{`refused "" MissingToken x1`, `refused "" InvalidToken x1`, `refused "" InvalidHost x1`,
		`refused "" MissingToken x49`, `refused "" InvalidToken x49`, `refused "" InvalidHost x49`,
		`refused "missing" ProfileNotFound x1`, `refused "" MissingToken x1`, `refused "" MissingToken x49`}
	if !slices.Equal(lines, want) {
		t.Errorf("audit lines:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// Repeats pending when the server shuts down reach the log: the daemon's
// Shutdown, Flush, Close.
func TestAudit_ShutdownKeepsRepeats(t *testing.T) {
	for i := range 200 {
		l, events := newAuditLog(t, clockwork.NewRealClock())
		a := server.NewAudit(l, server.AuditConfig{})
		srv := auditedServer(t, a)
		c := srv.Client()
		for range 3 {
			if code := get(t, c, srv.URL+"/v1/credentials/prod", benchToken); code != http.StatusOK {
				t.Fatalf("got %d, want 200", code)
			}
		}
		if err := srv.Config.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.Flush()
		n := 0
		for _, e := range events() {
			n += e.N()
		}
		if n != 3 {
			t.Fatalf("run %d: the log holds %d of 3 issuances", i, n)
		}
	}
}

// A client without the token that alternates between refusals (no token,
// a wrong one, a foreign Host) still makes one line per kind with a count,
// not a line per request.
func TestAudit_AlternatingRefusalsCoalesce(t *testing.T) {
	l, events := newAuditLog(t, clockwork.NewRealClock())
	a := server.NewAudit(l, server.AuditConfig{})
	h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}, Audit: a})
	ctx := connContext(t, a)
	for i := range 999 {
		r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/prod", nil).WithContext(ctx)
		switch i % 3 {
		case 1:
			r.Header.Set("Authorization", "wrong")
		case 2:
			r.Host = "evil.example"
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	a.Flush()
	got := events()
	n := 0
	for _, e := range got {
		n += e.N()
	}
	if len(got) != 6 || n != 999 {
		t.Errorf("999 alternating refusals made %d lines counting %d, want 6 lines (the first of each kind, then its repeats) counting 999", len(got), n)
	}
}

// connContext is the context a's ConnContext gives a connection's
// requests, for a connection with no process at its other end.
func connContext(tb testing.TB, a *server.Audit) context.Context {
	c1, c2 := net.Pipe()
	tb.Cleanup(func() { c1.Close(); c2.Close() })
	return a.ConnContext(context.Background(), c1)
}

// leavingCreds answers only when the request ends, as a slow fetch does
// for a client that gives up, and marks the client gone then.
type leavingCreds struct{ gone *atomic.Bool }

func (c leavingCreds) Get(ctx context.Context, _ string) (cache.Served, error) {
	<-ctx.Done()
	c.gone.Store(true)
	return cache.Served{}, ctx.Err()
}

var _ server.Credentials = leavingCreds{}

// A client that gives up during a slow fetch is named all the same: it is
// looked up before the fetch, while it is still there.
func TestAudit_ClientLeavingSlowFetchIsNamed(t *testing.T) {
	l, events := newAuditLog(t, clockwork.NewRealClock())
	gone := &atomic.Bool{}
	lookup := func(net.Addr, net.Addr, peer.Search) (peer.Process, error) {
		if gone.Load() {
			return peer.Process{}, peer.ErrNotFound
		}
		return peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/curl"}, nil
	}
	a := server.NewAudit(l, server.AuditConfig{Lookup: lookup})
	h := server.New(leavingCreds{gone}, server.Config{Token: benchToken, Hosts: []string{srvHost}, Audit: a})
	ctx, cancel := context.WithCancel(connContext(t, a))
	cancel() // the client has given up by the time the fetch ends
	r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/prod", nil).WithContext(ctx)
	r.Header.Set("Authorization", benchToken)
	h.ServeHTTP(httptest.NewRecorder(), r)
	a.Flush()
	got := events()
	if len(got) != 1 || got[0].Code != "Cancelled" || got[0].Client == nil || got[0].Client.PID != 42 {
		t.Fatalf("events of a request whose client left during the fetch = %+v, want one Cancelled refusal naming pid 42", got)
	}
}
