package sso_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
)

func TestToken_RefreshesShortLivedTokens(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	ctx := context.Background()
	e.login(t, session)
	first, err := e.client.Token(ctx, session)
	if err != nil {
		t.Fatalf("Token() = %v", err)
	}
	prev := first
	for i := range 3 {
		e.clock.Advance(4 * time.Minute) // 6 minutes left: no refresh yet
		if tok, err := e.client.Token(ctx, session); err != nil || tok != prev {
			t.Fatalf("Token() with 6 minutes left = %v, %v, want the same token", tok, err)
		}
		e.clock.Advance(2 * time.Minute) // 4 minutes left: refresh
		tok, err := e.client.Token(ctx, session)
		if err != nil {
			t.Fatalf("Token() with 4 minutes left = %v", err)
		}
		if tok.AccessToken == prev.AccessToken || !tok.Expires.Equal(e.clock.Now().Add(10*time.Minute)) {
			t.Errorf("Token() with 4 minutes left = %v, want a new token for 10 minutes", tok)
		}
		if got := e.grants(refreshGrant); got != i+1 {
			t.Errorf("refreshes = %d, want %d", got, i+1)
		}
		prev = tok
	}
}

func TestToken_RefreshesOnceForConcurrentCallers(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	e.login(t, session)
	e.clock.Advance(7 * time.Minute)
	var wg sync.WaitGroup
	tokens := make([]sso.Token, 8)
	for i := range tokens {
		wg.Go(func() {
			tok, err := e.client.Token(context.Background(), session)
			if err != nil {
				t.Errorf("Token() = %v", err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	if got := e.grants(refreshGrant); got != 1 {
		t.Errorf("refreshes = %d, want 1", got)
	}
	for _, tok := range tokens[1:] {
		if tok != tokens[0] {
			t.Errorf("Token() = %v and %v, want one token", tok, tokens[0])
		}
	}
}

func TestToken_LoginRequired(t *testing.T) {
	legacy := sso.Session{StartURL: "https://legacy.awsapps.com/start", Region: "us-east-1"}
	tests := []struct {
		name      string
		cfg       ssofake.Config
		session   sso.Session
		prepare   func(e *env) // after login
		advance   time.Duration
		want      error
		refreshes int
	}{
		{name: "refresh refused", session: session, prepare: func(e *env) { e.fake.RevokeRefreshTokens() },
			advance: 2 * time.Hour, want: sso.ErrLoginRequired, refreshes: 1},
		{name: "refresh refused while the token is valid", session: session, prepare: func(e *env) { e.fake.RevokeRefreshTokens() },
			advance: 58 * time.Minute, refreshes: 1},
		{name: "legacy session has no refresh token", session: legacy, advance: 2 * time.Hour, want: sso.ErrLoginRequired},
		{name: "registration expired", session: session, cfg: ssofake.Config{RegistrationLifetime: 90 * time.Minute},
			advance: 2 * time.Hour, want: sso.ErrLoginRequired},
		{name: "another start URL", session: session, advance: time.Minute, want: sso.ErrLoginRequired,
			prepare: func(e *env) {
				s := session
				s.StartURL = "https://other.awsapps.com/start"
				e.login(t, s)
			}},
		{name: "signed out", session: session, want: sso.ErrLoginRequired,
			prepare: func(e *env) { e.client.Logout(context.Background(), session) }},
		{name: "store fails", session: session, want: errStore, prepare: func(e *env) { e.store.err = errStore }},
		// An item damaged, or another program's, asks for a sign-in.
		{name: "damaged token", session: session, want: sso.ErrLoginRequired,
			prepare: func(e *env) { e.store.Set(context.Background(), session.Key(), []byte("aoa-secret-not-json")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			e.login(t, tt.session)
			if tt.prepare != nil {
				tt.prepare(e)
			}
			e.clock.Advance(tt.advance)
			for range 2 { // the second time without asking the service
				_, err := e.client.Token(context.Background(), tt.session)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Errorf("Token() = %v, want %v", err, tt.want)
				}
				e.store.checkNoSecrets(t, err)
			}
			if got := e.grants(refreshGrant); got != tt.refreshes {
				t.Errorf("refreshes = %d, want %d", got, tt.refreshes)
			}
		})
	}
}

var errStore = errors.New("keychain is locked")

func TestToken_NobodySignedIn(t *testing.T) {
	e := newEnv(t, ssofake.Config{})
	if _, err := e.client.Token(context.Background(), session); !errors.Is(err, sso.ErrLoginRequired) {
		t.Errorf("Token() = %v, want %v", err, sso.ErrLoginRequired)
	}
	if _, err := e.client.Token(context.Background(), sso.Session{Name: "x"}); err == nil || errors.Is(err, sso.ErrLoginRequired) {
		t.Errorf("Token() of a session without start URL = %v, want a configuration error", err)
	}
}

// TestToken_EndpointsFromEnvironment checks that, without endpoints in
// Config, the clients honour the SDK's environment variables.
func TestToken_EndpointsFromEnvironment(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", e.fake.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSO", e.fake.URL)
	e.client = sso.New(e.store, zapNop, sso.Config{Clock: e.clock})
	e.login(t, session)
	e.clock.Advance(6 * time.Minute)
	if _, err := e.client.RoleCredentials(context.Background(), session, "111122223333", "Admin"); err != nil {
		t.Fatalf("RoleCredentials() = %v", err)
	}
	if got := e.grants(refreshGrant); got != 1 {
		t.Errorf("refreshes = %d, want 1", got)
	}
}

// TestToken_RefreshedButNotStored checks that a token refreshed while the
// keychain refuses writes (locked after a sleep) is served and kept in
// memory: the refresh token it replaced is spent, and dropping the new one
// signed the session out at the next refresh. A later refresh stores it.
func TestToken_RefreshedButNotStored(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	ctx := context.Background()
	e.login(t, session)
	locked := errors.New("keychain is locked")

	e.store.mu.Lock()
	e.store.setErr = locked
	e.store.mu.Unlock()
	e.clock.Advance(6 * time.Minute) // 4 minutes left: refresh
	tok, err := e.client.Token(ctx, session)
	if err != nil || !tok.Expires.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("Token() refreshed while the store refuses writes = %v, %v, want a new token for 10 minutes", tok, err)
	}
	e.store.checkNoSecrets(t, err)
	if got, err := e.client.Token(ctx, session); err != nil || got != tok {
		t.Errorf("Token() again = %v, %v, want the refreshed token, from memory", got, err)
	}

	e.store.mu.Lock()
	e.store.setErr = nil
	e.store.mu.Unlock()
	e.clock.Advance(7 * time.Minute) // 3 minutes left: refresh with the new refresh token
	next, err := e.client.Token(ctx, session)
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Fatalf("Token() at the next refresh = %v, %v, want a new token", next, err)
	}
	if got := e.store.field("corp", "accessToken"); got != next.AccessToken {
		t.Error("the store does not hold the token of the refresh after it took writes again")
	}
	if got := e.grants(refreshGrant); got != 2 {
		t.Errorf("refreshes = %d, want 2", got)
	}
}

// midWriteStore is a fakeStore whose first Get finds nothing, as a read
// between the writes of a record's parts (macOS Keychain) may.
type midWriteStore struct {
	*fakeStore
	missed atomic.Bool
}

func (s *midWriteStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.missed.CompareAndSwap(false, true) {
		return nil, nil
	}
	return s.fakeStore.Get(ctx, key)
}

// TestToken_ReadMidWrite checks that a record read as none while it was
// being written is read again once the write is done, rather than
// answering that a sign-in is needed.
func TestToken_ReadMidWrite(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: time.Hour})
	e.login(t, session)
	store := &midWriteStore{fakeStore: e.store}
	c := sso.New(store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	if tok, err := c.Token(context.Background(), session); err != nil || tok.AccessToken == "" {
		t.Errorf("Token() with the first read mid-write = %v, %v, want the stored token", tok, err)
	}
	if got := e.grants(refreshGrant); got != 0 {
		t.Errorf("refreshes = %d, want none: the token is fresh", got)
	}
	if _, err := sso.New(newFakeStore(), zapNop, sso.Config{Clock: e.clock}).Token(context.Background(), session); !errors.Is(err, sso.ErrLoginRequired) {
		t.Errorf("Token() with nothing stored = %v, want ErrLoginRequired", err)
	}
}

// TestToken_RefreshSentOnce checks that a refresh whose answer is lost
// (the connection reset after the service took the refresh token) is not
// sent again at once with the same refresh token, which a service that
// rotates it refuses, signing the session out.
func TestToken_RefreshSentOnce(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			RefreshToken string `json:"refreshToken"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		sent = append(sent, in.RefreshToken)
		first := len(sent) == 1
		mu.Unlock()
		if first {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.(*net.TCPConn).SetLinger(0)
			c.Close() // reset: the answer is lost
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"accessToken":"new","expiresIn":3600,"refreshToken":"rotated","tokenType":"Bearer"}`)
	}))
	defer srv.Close()
	sess := sso.Session{Name: "corp", StartURL: "https://x.awsapps.com/start", Region: "eu-west-1"}
	rec, _ := json.Marshal(map[string]any{"startUrl": sess.StartURL, "region": sess.Region, "accessToken": "old",
		"expiresAt": time.Now().Add(time.Minute), "refreshToken": "rt-1", "clientId": "id", "clientSecret": "secret",
		"registrationExpiresAt": time.Now().Add(24 * time.Hour)})
	st := newFakeStore()
	st.blobs["corp"] = rec
	c := sso.New(st, zap.NewNop(), sso.Config{OIDCEndpoint: srv.URL, PortalEndpoint: srv.URL})
	// The current token is still valid: Token serves it.
	if _, err := c.Token(t.Context(), sess); err != nil {
		t.Errorf("Token with the refresh's answer lost = %v, want the current token", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 1 {
		t.Errorf("refresh tokens sent: %q, want rt-1 once", sent)
	}
}
