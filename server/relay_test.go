package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/tokens"
	"github.com/brokerd/brokerd/wire"
)

func TestRelay(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	store, err := tokens.Open(tokens.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(label string, ttl time.Duration, profiles ...string) (string, tokens.Token) {
		secret, tok, err := store.Issue(tokens.Request{Label: label, Profiles: profiles, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return secret, tok
	}
	web, webTok := issue("web", time.Hour, "prod", "dev")
	cid := filepath.Join(t.TempDir(), "cid")
	containerID := strings.Repeat("0123456789abcdef", 4)
	os.WriteFile(cid, []byte(containerID), 0o600)
	store.SetCIDFile(webTok.ID, cid)
	worker, _ := issue("worker", time.Hour, "dev")
	short, _ := issue("short", time.Minute, "prod")
	gone, _ := issue("gone", time.Hour, "prod")
	store.Revoke("gone")
	clock.Advance(2 * time.Minute)

	l, events := newAuditLog(t, clock)
	a := server.NewAudit(l, server.AuditConfig{Clock: clock})
	h := server.NewRelay(testCreds(), server.RelayConfig{Tokens: store, MainToken: benchToken, Clock: clock, Audit: a, ClientHeader: true})

	tests := []struct {
		name, method, host, path, token string
		status                          int
		code, says                      string
	}{
		{"scoped profile", "GET", wire.RelayAddr, "/v1/credentials/prod", web, 200, "", ""},
		{"second profile", "GET", wire.RelayAddr + ":80", "/v1/credentials/dev", web, 200, "", ""},
		{"first profile by default", "GET", wire.RelayAddr, "/v1/credentials", web, 200, "", ""},
		{"another container's profile", "GET", wire.RelayAddr, "/v1/credentials/prod", worker, 403, "ProfileNotAllowed", `may fetch dev only, not "prod"`},
		{"no such profile in scope", "GET", wire.RelayAddr, "/v1/credentials/admin", web, 403, "ProfileNotAllowed", "brokerd docker run admin"},
		{"expired", "GET", wire.RelayAddr, "/v1/credentials/prod", short, 401, "TokenExpired", "expired at"},
		{"revoked", "GET", wire.RelayAddr, "/v1/credentials/prod", gone, 403, "TokenRevoked", "was revoked"},
		{"no token", "GET", wire.RelayAddr, "/v1/credentials/prod", "", 401, "MissingToken", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"},
		{"the daemon's own token", "GET", wire.RelayAddr, "/v1/credentials/prod", benchToken, 403, "InvalidToken", "own token is refused through the relay"},
		{"unknown container token", "GET", wire.RelayAddr, "/v1/credentials/prod", tokens.Prefix + strings.Repeat("9", 64), 403, "InvalidToken", "never issued"},
		{"foreign host", "GET", "evil.example", "/v1/credentials/prod", web, 403, "InvalidHost", "relay's address"},
		{"loopback host", "GET", srvHost, "/v1/credentials/prod", web, 403, "InvalidHost", "relay's address"},
		{"other path", "GET", wire.RelayAddr, "/v1/status", web, 404, "NotFound", "/v1/credentials/PROFILE"},
		{"POST", "POST", wire.RelayAddr, "/v1/credentials/prod", web, 405, "MethodNotAllowed", "GET"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "http://"+tt.host+tt.path, nil)
		r.Host = tt.host
		if tt.token != "" {
			r.Header.Set("Authorization", tt.token)
		}
		r.Header.Set(wire.HeaderRelayClient, "169.254.170.7")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("%s: %s %s = %d %s, want %d", tt.name, tt.method, tt.path, w.Code, w.Body, tt.status)
			continue
		}
		if tt.status == 200 {
			if !strings.Contains(w.Body.String(), "AccessKeyId") || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s: body %s, Content-Type %q", tt.name, w.Body, w.Header().Get("Content-Type"))
			}
			continue
		}
		var body wire.Error
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != tt.code || !strings.Contains(body.Message, tt.says) {
			t.Errorf("%s: body %s, want code %s and a message saying %q", tt.name, w.Body, tt.code, tt.says)
		}
		for _, secret := range []string{web, worker, short, gone, benchToken} {
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("%s: the answer shows a token: %s", tt.name, w.Body)
			}
		}
	}
	a.Flush()
	if issued, refused := a.Counts(); issued != 3 || refused != uint64(len(tests)-3) {
		t.Errorf("Counts = %d, %d; want 3, %d", issued, refused, len(tests)-3)
	}
	got := events()
	n := 0
	for _, e := range got {
		if e.Kind == audit.Issued {
			n += e.N()
			if c := e.Container; c == nil || c.ID != containerID || c.Label != "web" || c.IP != "169.254.170.7" {
				t.Errorf("issuance %+v names container %+v, want %s (web) at 169.254.170.7", e, e.Container, containerID)
			}
		}
	}
	if n != 3 {
		t.Errorf("the audit log counts %d issuances, want 3: %+v", n, got)
	}
	var sawScope bool
	for _, e := range got {
		if e.Kind == audit.Refused && e.Code == "ProfileNotAllowed" && e.Profile == "prod" && e.Container != nil && e.Container.Label == "worker" {
			sawScope = true
		}
	}
	if !sawScope {
		t.Errorf("no refusal of prod to the worker container in %+v", got)
	}
	for _, tok := range store.List() {
		if tok.Label == "web" && tok.LastUsed.IsZero() {
			t.Errorf("token web has no last use after serving")
		}
	}
}

// The loopback endpoint tells a container token where it works.
func TestServer_RefusesContainerToken(t *testing.T) {
	h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}})
	r := httptest.NewRequest(http.MethodGet, "http://"+srvHost+"/v1/credentials/prod", nil)
	r.Header.Set("Authorization", tokens.Prefix+strings.Repeat("1", 64))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 || !strings.Contains(w.Body.String(), `"ContainerToken"`) || !strings.Contains(w.Body.String(), wire.RelayAddr) {
		t.Errorf("GET with a container token on loopback = %d %s, want 403 ContainerToken naming the relay", w.Code, w.Body)
	}
}

// With a Relay, the loopback endpoint serves the relay's Host through it
// (Docker Desktop's relay comes through loopback), without believing the
// relay's header there.
func TestServer_RelayOnLoopback(t *testing.T) {
	store, _ := tokens.Open(tokens.Config{})
	secret, _, _ := store.Issue(tokens.Request{Label: "web", Profiles: []string{"prod"}})
	l, events := newAuditLog(t, clockwork.NewRealClock())
	a := server.NewAudit(l, server.AuditConfig{})
	rel := server.NewRelay(testCreds(), server.RelayConfig{Tokens: store, MainToken: benchToken, Audit: a})
	for _, tt := range []struct {
		relay  http.Handler
		status int
	}{{rel, 200}, {nil, 403}} {
		h := server.New(testCreds(), server.Config{Token: benchToken, Hosts: []string{srvHost}, Relay: tt.relay, Audit: a})
		r := httptest.NewRequest(http.MethodGet, "http://"+wire.RelayAddr+"/v1/credentials/prod", nil)
		r.Header.Set("Authorization", secret)
		r.Header.Set(wire.HeaderRelayClient, "169.254.170.9")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("relay %v: GET with Host %s = %d %s, want %d", tt.relay != nil, wire.RelayAddr, w.Code, w.Body, tt.status)
		}
	}
	for _, e := range events() {
		if e.Kind == audit.Issued && (e.Container == nil || e.Container.Label != "web" || e.Container.IP != "") {
			t.Errorf("issuance through loopback names %+v, want token web and no address", e.Container)
		}
	}
}

// A request whose body never ends is answered, and its connection closed,
// by the endpoint and by the relay's handler: net/http would otherwise
// wait for the body before it answers, past every timeout, with the
// connection held active where the connection cap cannot close it.
func TestServer_UnendingBody(t *testing.T) {
	store, err := tokens.Open(tokens.Config{})
	if err != nil {
		t.Fatal(err)
	}
	handlers := []struct {
		name, host string
		h          http.Handler
	}{
		{"endpoint", srvHost, newHandler(newStub(), nil)},
		{"relay", wire.RelayAddr, server.NewRelay(testCreds(), server.RelayConfig{Tokens: store})},
	}
	for _, tt := range handlers {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The bound only ends a failing test; a passing one is answered
			// at once.
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "GET /v1/credentials/prod HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", tt.host)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is unfinished: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "RequestBody") || !resp.Close {
				t.Errorf("answer %d %s (close %v), want 400 RequestBody and the connection closed", resp.StatusCode, body, resp.Close)
			}
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the answer: read %d, %v; want the connection closed (EOF)", n, err)
			}
		})
	}
}
