package sso_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
)

func TestLogin_DeviceFlow(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: time.Hour})
	ctx := context.Background()
	l, err := e.client.StartLogin(ctx, session)
	if err != nil {
		t.Fatalf("StartLogin() = %v", err)
	}
	if l.UserCode == "" || !strings.HasPrefix(l.VerificationURI, e.fake.URL) ||
		l.VerificationURIComplete != l.VerificationURI+"?user_code="+l.UserCode {
		t.Errorf("StartLogin() = %+v, want a user code and verification URIs of the fake", l)
	}
	if want := e.clock.Now().Add(10 * time.Minute); !l.Expires.Equal(want) {
		t.Errorf("Login.Expires = %v, want %v", l.Expires, want)
	}
	if s := fmt.Sprintf("%v %+v", l, l); !strings.Contains(s, l.UserCode) {
		t.Errorf("Login prints as %q, want its user code", s)
	}

	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	// Pending twice, then the person opens the complete verification URI.
	e.advance(t, time.Second)
	e.advance(t, time.Second)
	e.waitForWaiter(t)
	resp, err := http.Get(l.VerificationURIComplete)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.advance(t, time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Wait() = %v, want nil", err)
	}
	if got := e.grants(deviceGrant); got != 3 {
		t.Errorf("device-code polls = %d, want 3 (two pending, one approved)", got)
	}
	for op, want := range map[string]int{"RegisterClient": 1, "StartDeviceAuthorization": 1} {
		if got := e.fake.Count(op); got != want {
			t.Errorf("%s calls = %d, want %d", op, got, want)
		}
	}

	tok, err := e.client.Token(ctx, session)
	if err != nil {
		t.Fatalf("Token() after login = %v", err)
	}
	if tok.AccessToken == "" || !tok.Expires.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("Token() = %v, want a token expiring in an hour", tok)
	}
	if s := fmt.Sprintf("%v %+v %#v", tok, tok, tok); strings.Contains(s, tok.AccessToken) {
		t.Errorf("Token prints as %q, with the token", s)
	}
	if e.store.field("corp", "refreshToken") == "" {
		t.Error("no refresh token stored for a named session")
	}
}

func TestLogin_Wait(t *testing.T) {
	approve, deny := (*ssofake.Server).Approve, (*ssofake.Server).Deny
	sec := time.Second
	tests := []struct {
		name     string
		cfg      ssofake.Config
		decide   func(*ssofake.Server, string) error
		decideAt int             // the step before which the person decides
		steps    []time.Duration // clock advances, each once Wait waits
		want     error
		lastPoll time.Duration // after the start
	}{
		{name: "approved", decide: approve, steps: []time.Duration{sec}, lastPoll: sec},
		{name: "pending then approved", decide: approve, decideAt: 2, steps: []time.Duration{sec, sec, sec}, lastPoll: 3 * sec},
		{name: "denied", decide: deny, decideAt: 1, steps: []time.Duration{sec, sec}, want: sso.ErrDenied, lastPoll: 2 * sec},
		{name: "code expires", cfg: ssofake.Config{CodeLifetime: 3 * sec},
			steps: []time.Duration{sec, sec, sec}, want: sso.ErrCodeExpired, lastPoll: 2 * sec},
		// Polls at 1 s (pending) and 2 s (too soon: slow down), then 5 s
		// later than the interval: at 8 s.
		{name: "slow down", cfg: ssofake.Config{MinPoll: 3 * sec}, decide: approve, decideAt: 2,
			steps: []time.Duration{sec, sec, 5 * sec, sec}, lastPoll: 8 * sec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			start := e.clock.Now()
			l, err := e.client.StartLogin(context.Background(), session)
			if err != nil {
				t.Fatalf("StartLogin() = %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- l.Wait(context.Background()) }()
			for i, d := range tt.steps {
				e.waitForWaiter(t) // the previous poll is answered
				if i == tt.decideAt && tt.decide != nil {
					if err := tt.decide(e.fake, l.UserCode); err != nil {
						t.Fatal(err)
					}
				}
				e.advance(t, d)
			}
			if err := <-done; !errors.Is(err, tt.want) {
				t.Errorf("Wait() = %v, want %v", err, tt.want)
			}
			calls := e.fake.Calls()
			if last := calls[len(calls)-1]; last.Op != "CreateToken" || last.At.Sub(start) != tt.lastPoll {
				t.Errorf("last call %s at %v, want CreateToken at %v", last.Op, last.At.Sub(start), tt.lastPoll)
			}
			_, err = e.client.Token(context.Background(), session)
			if gotToken := err == nil; gotToken != (tt.want == nil) {
				t.Errorf("Token() after Wait() = %v, want a token %v", err, tt.want == nil)
			}
			e.store.checkNoSecrets(t, err)
		})
	}
}

func TestLogin_WaitEndsWithItsContext(t *testing.T) {
	e := newEnv(t, ssofake.Config{})
	l, err := e.client.StartLogin(context.Background(), session)
	if err != nil {
		t.Fatalf("StartLogin() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	e.advance(t, time.Second) // one pending poll
	e.waitForWaiter(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait() = %v, want %v", err, context.Canceled)
	}
}

func TestLogin_StartRefusesIncompleteSession(t *testing.T) {
	e := newEnv(t, ssofake.Config{})
	for _, s := range []sso.Session{{Name: "a", Region: "eu-west-1"}, {Name: "b", StartURL: "https://b.awsapps.com/start"}} {
		if _, err := e.client.StartLogin(context.Background(), s); err == nil {
			t.Errorf("StartLogin(%+v) = nil error, want one", s)
		}
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Errorf("fake got %d calls, want none", n)
	}
}

// flaky stands in front of fake: while fails is above 0, each CreateToken
// request takes one and fails as the network (drop) or the service (500)
// does.
type flaky struct {
	mu    sync.Mutex
	fails int
	drop  bool
}

func (f *flaky) fail(n int, drop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails, f.drop = n, drop
}

func (f *flaky) serve(t *testing.T, fake *ssofake.Server) string {
	u, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fail, drop := r.URL.Path == "/token" && f.fails > 0, f.drop
		if fail {
			f.fails--
		}
		f.mu.Unlock()
		switch {
		case fail && drop:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case fail:
			w.Header().Set("X-Amzn-Errortype", "InternalServerException")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"server_error","error_description":"try again later"}`))
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A poll that fails for now (one attempt each: the device code is sent
// once a poll) does not end the sign-in: the person may be approving the
// code meanwhile.
func TestLogin_WaitPollsOnThroughFailures(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name  string
		drop  bool
		cfg   ssofake.Config
		fails int // failing polls after the first, pending, one
		steps int // polls after the first
		want  error
	}{
		{name: "service fails", fails: 2, steps: 3},
		{name: "network fails", fails: 2, steps: 3, drop: true},
		// The code expires while every poll fails: say why, not only
		// that the code expired.
		{name: "fails until the code expires", cfg: ssofake.Config{CodeLifetime: 3 * sec}, fails: 100, steps: 2,
			want: errors.New("StatusCode: 500")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			var f flaky
			proxy := f.serve(t, e.fake)
			core, logs := observer.New(zap.WarnLevel)
			e.client = sso.New(e.store, zap.New(core), sso.Config{Clock: e.clock, OIDCEndpoint: proxy, PortalEndpoint: proxy})
			l, err := e.client.StartLogin(context.Background(), session)
			if err != nil {
				t.Fatalf("StartLogin() = %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- l.Wait(context.Background()) }()
			e.advance(t, sec)
			e.waitForWaiter(t) // the first poll was answered: pending
			f.fail(tt.fails, tt.drop)
			if err := e.fake.Approve(l.UserCode); err != nil {
				t.Fatal(err)
			}
			for range tt.steps {
				waitOrEnd(t, e.clock, done)
				e.clock.Advance(sec)
			}
			err = <-done
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Wait() = %v after polls failed for now, want nil", err)
			case tt.want != nil && (err == nil || errors.Is(err, sso.ErrCodeExpired) || !strings.Contains(err.Error(), tt.want.Error())):
				t.Errorf("Wait() = %v, want the last poll's error (%v)", err, tt.want)
			}
			if _, err := e.client.Token(context.Background(), session); (err == nil) != (tt.want == nil) {
				t.Errorf("Token() after Wait() = %v, want a token %v", err, tt.want == nil)
			}
			if n := logs.FilterMessage("sso sign-in poll failed; polling on").Len(); n != 1 {
				t.Errorf("%d warnings of failed polls, want 1 for the outage", n)
			}
		})
	}
}

// waitOrEnd returns once something waits on clock, and fails t when Wait
// ends (done) first.
func waitOrEnd(t *testing.T, clock *clockwork.FakeClock, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waiting := make(chan error, 1)
	go func() { waiting <- clock.BlockUntilContext(ctx, 1) }()
	select {
	case err := <-done:
		t.Fatalf("Wait() = %v while polls failed, want it to poll on", err)
	case err := <-waiting:
		if err != nil {
			t.Fatalf("nothing waits on the clock: %v", err)
		}
	}
}
