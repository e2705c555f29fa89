package sso_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStore keeps blobs in memory, and remembers every secret it was given
// so that tests can check errors for them.
type fakeStore struct {
	mu      sync.Mutex
	blobs   map[string][]byte
	secrets []string
	err     error // returned by every method when set
	setErr  error // returned by Set when set
	sets    int   // calls of Set, refused ones included
}

var _ sso.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore { return &fakeStore{blobs: map[string][]byte{}} }

func (s *fakeStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobs[key], s.err
}

func (s *fakeStore) Set(_ context.Context, key string, blob []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	if s.err != nil {
		return s.err
	}
	if s.setErr != nil {
		return s.setErr
	}
	var r map[string]any
	json.Unmarshal(blob, &r)
	for _, k := range []string{"accessToken", "refreshToken", "clientSecret"} {
		if v, _ := r[k].(string); v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
	s.blobs[key] = blob
	return nil
}

func (s *fakeStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blobs, key)
	return s.err
}

// refuseSets makes Set return err (a locked keychain); nil takes sets
// again.
func (s *fakeStore) refuseSets(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setErr = err
}

// setCalls returns how many times Set was called.
func (s *fakeStore) setCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets
}

// checkNoSecretsIn fails t if a log entry of logs holds a token or secret
// the store was given.
func (s *fakeStore) checkNoSecretsIn(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range logs.All() {
		line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		for _, secret := range s.secrets {
			if strings.Contains(line, secret) {
				t.Errorf("log entry %q holds a secret", e.Message)
			}
		}
	}
}

// field returns a string field of the record stored under key.
func (s *fakeStore) field(key, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r map[string]any
	json.Unmarshal(s.blobs[key], &r)
	v, _ := r[name].(string)
	return v
}

// checkNoSecrets fails t if err's text holds a token or secret the store
// was given.
func (s *fakeStore) checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, secret := range s.secrets {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds a secret", err)
		}
	}
}

var zapNop = zap.NewNop()

var session = sso.Session{Name: "corp", StartURL: "https://corp.awsapps.com/start", Region: "eu-west-1"}

// env is a Client and the fake IAM Identity Center it talks to, on one
// fake clock.
type env struct {
	clock  *clockwork.FakeClock
	fake   *ssofake.Server
	store  *fakeStore
	client *sso.Client
}

func newEnv(t *testing.T, cfg ssofake.Config) *env {
	t.Helper()
	e := &env{clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), store: newFakeStore()}
	cfg.Clock = e.clock
	e.fake = ssofake.New(cfg)
	t.Cleanup(e.fake.Close)
	e.client = sso.New(e.store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	return e
}

// advance moves the clock by d once something waits on it.
func (e *env) advance(t *testing.T, d time.Duration) {
	t.Helper()
	e.waitForWaiter(t)
	e.clock.Advance(d)
}

// waitForWaiter returns once something waits on the clock.
func (e *env) waitForWaiter(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("nothing waits on the clock: %v", err)
	}
}

// login signs s in through the device flow, approving at once.
func (e *env) login(t *testing.T, s sso.Session) {
	t.Helper()
	l, err := e.client.StartLogin(context.Background(), s)
	if err != nil {
		t.Fatalf("StartLogin(%q) = %v", s.Key(), err)
	}
	if err := e.fake.Approve(l.UserCode); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background()) }()
	e.advance(t, time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Wait() = %v, want nil", err)
	}
}

// grants counts the CreateToken calls of grant type g.
func (e *env) grants(g string) int {
	n := 0
	for _, c := range e.fake.Calls() {
		if c.Op == "CreateToken" && c.GrantType == g {
			n++
		}
	}
	return n
}

const (
	deviceGrant  = "urn:ietf:params:oauth:grant-type:device_code"
	refreshGrant = "refresh_token"
)
