package sso_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
)

// heldEnv is an env whose Client logs to logs, with corp signed in and
// then refreshed while the store refused writes: its token is held only
// in memory.
func heldEnv(t *testing.T) (*env, *observer.ObservedLogs, sso.Token) {
	t.Helper()
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	core, logs := observer.New(zap.DebugLevel)
	e.client = sso.New(e.store, zap.New(core), sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	t.Cleanup(e.client.Wait)
	e.login(t, session)
	e.store.refuseSets(errStore)
	e.clock.Advance(6 * time.Minute) // 4 minutes left: refresh
	tok, err := e.client.Token(t.Context(), session)
	if err != nil || !tok.InMemoryOnly || !tok.Expires.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("Token() refreshed while the store refuses writes = %+v, %v, want a new token held in memory", tok, err)
	}
	if n := logs.FilterMessageSnippet("held only in memory").FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings that the session is held only in memory, want 1", n)
	}
	return e, logs, tok
}

// TestToken_HeldInMemoryStoredAtALaterUse checks that a token refreshed
// while the keychain refused it is stored by a later Token once the
// keychain takes it, rather than at the next refresh: a restart before
// then found the spent refresh token and signed the session out. Offers
// are at most once a minute, in the background.
func TestToken_HeldInMemoryStoredAtALaterUse(t *testing.T) {
	e, logs, tok := heldEnv(t)
	ctx := t.Context()
	sets := e.store.setCalls()
	for range 5 { // within the minute after the refused store: no offer
		e.clock.Advance(10 * time.Second)
		if got, err := e.client.Token(ctx, session); err != nil || got != tok {
			t.Fatalf("Token() while held in memory = %+v, %v, want %+v", got, err, tok)
		}
		e.client.Wait()
	}
	if got := e.store.setCalls(); got != sets {
		t.Errorf("Set called %d times within a minute of the refused store, want none", got-sets)
	}

	e.store.refuseSets(nil) // unlocked
	e.clock.Advance(10 * time.Second)
	if got, err := e.client.Token(ctx, session); err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Token() a minute later = %+v, %v, want the token held in memory", got, err)
	}
	e.client.Wait()
	if e.store.field(session.Key(), "accessToken") != tok.AccessToken {
		t.Fatal("the store does not hold the token held in memory after a Token a minute later, with the store taking writes")
	}
	if got, err := e.client.Token(ctx, session); err != nil || got.InMemoryOnly {
		t.Errorf("Token() once stored = %+v, %v, want it not held in memory only", got, err)
	}
	if n := logs.FilterMessageSnippet("stored; it was held only in memory").Len(); n != 1 {
		t.Errorf("%d log entries that the token was stored, want 1", n)
	}

	// A restart, once the token needs a refresh: the stored refresh token
	// is the one not yet spent.
	e.clock.Advance(5 * time.Minute)
	restarted := sso.New(e.store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	next, err := restarted.Token(ctx, session)
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Errorf("Token() after a restart = %+v, %v, want a refreshed token", next, err)
	}
	if got := e.grants(refreshGrant); got != 2 {
		t.Errorf("refreshes = %d, want 2", got)
	}
	e.store.checkNoSecretsIn(t, logs)
}

// TestToken_HeldInMemoryStoredAfterAnotherSessionIsRead checks that a
// token held in memory is offered to the store as soon as the store gives
// another session's token (a locked keychain gives none), 5 s after the
// last offer at the soonest.
func TestToken_HeldInMemoryStoredAfterAnotherSessionIsRead(t *testing.T) {
	e, logs, tok := heldEnv(t)
	ctx := t.Context()
	other := sso.Session{Name: "other", StartURL: "https://other.awsapps.com/start", Region: "eu-west-1"}
	e.store.refuseSets(nil)
	e.login(t, other) // stores other, which offers corp's: too soon
	e.client.Wait()
	if e.store.field(session.Key(), "accessToken") == tok.AccessToken {
		t.Fatal("the token held in memory was offered again at once")
	}
	e.clock.Advance(5 * time.Second)
	if _, err := e.client.Token(ctx, other); err != nil {
		t.Fatal(err)
	}
	e.client.Wait()
	if e.store.field(session.Key(), "accessToken") != tok.AccessToken {
		t.Error("the store does not hold the token held in memory after it gave another session's token")
	}
	e.store.checkNoSecretsIn(t, logs)
}

// TestClient_StoreUnsaved checks the store at a daemon's stop of the
// tokens held in memory, and that its error holds no secret.
func TestClient_StoreUnsaved(t *testing.T) {
	e, logs, tok := heldEnv(t)
	err := e.client.StoreUnsaved(t.Context())
	if !errors.Is(err, errStore) {
		t.Errorf("StoreUnsaved() with the store refusing writes = %v, want %v", err, errStore)
	}
	if err != nil && strings.Contains(err.Error(), tok.AccessToken) {
		t.Errorf("StoreUnsaved() = %q, which holds the access token", err)
	}
	e.store.refuseSets(nil)
	if err := e.client.StoreUnsaved(t.Context()); err != nil {
		t.Errorf("StoreUnsaved() = %v", err)
	}
	if e.store.field(session.Key(), "accessToken") != tok.AccessToken {
		t.Error("the store does not hold the token held in memory after StoreUnsaved")
	}
	if err := e.client.StoreUnsaved(t.Context()); err != nil {
		t.Errorf("StoreUnsaved() with nothing held = %v", err)
	}
	e.store.checkNoSecrets(t, err)
	e.store.checkNoSecretsIn(t, logs)
}

// TestToken_HeldInMemoryServedWhileTheKeychainWaits checks that Token
// serves a token held in memory at once while the store it started in the
// background waits on the keychain (an unlock prompt), and starts no
// other.
func TestToken_HeldInMemoryServedWhileTheKeychainWaits(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	e.login(t, session)
	store := &gatedStore{fakeStore: e.store, key: session.Key(), entered: make(chan struct{}), release: make(chan struct{})}
	store.open.Store(true)
	c := sso.New(store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	e.store.refuseSets(errStore)
	e.clock.Advance(6 * time.Minute)
	tok, err := c.Token(t.Context(), session)
	if err != nil || !tok.InMemoryOnly {
		t.Fatalf("Token() refreshed while the store refuses writes = %+v, %v, want a token held in memory", tok, err)
	}
	e.store.refuseSets(nil)
	store.open.Store(false)
	e.clock.Advance(time.Minute)

	answered := make(chan error, 2)
	token := func() {
		got, err := c.Token(t.Context(), session)
		if err == nil && got != tok {
			err = fmt.Errorf("got %+v, want %+v", got, tok)
		}
		answered <- err
	}
	go token()
	// Not sleeps: bounds on what must happen at once.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	select {
	case <-store.entered: // the store in the background waits on the keychain
	case <-timeout.C:
		t.Fatal("Token() a minute later did not offer the token held in memory to the store")
	}
	go token()
	for range 2 {
		select {
		case err := <-answered:
			if err != nil {
				t.Errorf("Token() while the store waits on the keychain = %v", err)
			}
		case <-timeout.C:
			t.Errorf("Token() waited on the keychain, want the token held in memory at once")
			defer func() { <-answered }()
		}
	}
	close(store.release)
	c.Wait()
	if e.store.field(session.Key(), "accessToken") != tok.AccessToken {
		t.Error("the store does not hold the token held in memory once the keychain answered")
	}
	if n := e.store.setCalls(); n != 3 { // the sign-in, the refused refresh, the offer
		t.Errorf("Set called %d times, want 3: one offer while it waits on the keychain", n)
	}
}

// gatedStore is a fakeStore whose Set of key waits, after saying so on
// entered, until release is closed: a keychain write waiting on an
// unlock prompt. With open set, Set does not wait.
type gatedStore struct {
	*fakeStore
	key     string
	entered chan struct{}
	release chan struct{}
	open    atomic.Bool
}

func (s *gatedStore) Set(ctx context.Context, key string, blob []byte) error {
	if key == s.key && !s.open.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.fakeStore.Set(ctx, key, blob)
}

// TestToken_NotSignedInDoesNotWaitOnAnotherSession checks that a session
// without a token is answered at once while another session's refresh is
// held up (up to 30 s): the lock is the session's, not the Client's.
func TestToken_NotSignedInDoesNotWaitOnAnotherSession(t *testing.T) {
	other := sso.Session{Name: "other", StartURL: "https://other.awsapps.com/start", Region: "eu-west-1"}
	tests := []struct {
		name string
		call func(ctx context.Context, c *sso.Client) error
		want error
	}{
		{"Token", func(ctx context.Context, c *sso.Client) error { _, err := c.Token(ctx, other); return err }, sso.ErrLoginRequired},
		{"RoleCredentials", func(ctx context.Context, c *sso.Client) error {
			_, err := c.RoleCredentials(ctx, other, "111122223333", "Admin")
			return err
		}, sso.ErrLoginRequired},
		{"Logout", func(ctx context.Context, c *sso.Client) error { return c.Logout(ctx, other) }, nil},
		{"Forget", func(ctx context.Context, c *sso.Client) error { _, err := c.Forget(ctx, other.Key()); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
			e.login(t, session)
			store := &gatedStore{fakeStore: e.store, key: session.Key(), entered: make(chan struct{}), release: make(chan struct{})}
			c := sso.New(store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
			e.clock.Advance(6 * time.Minute) // corp's token needs a refresh
			refreshed := make(chan error, 1)
			go func() { _, err := c.Token(context.Background(), session); refreshed <- err }()
			select {
			case <-store.entered: // corp's refresh holds corp's lock
			case err := <-refreshed:
				t.Fatalf("Token(corp) = %v before it stored its refresh", err)
			}
			answered := make(chan error, 1)
			go func() { answered <- tt.call(t.Context(), c) }()
			// Not a sleep: a bound on a call that must not wait at all.
			timeout := time.NewTimer(10 * time.Second)
			defer timeout.Stop()
			select {
			case err := <-answered:
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Errorf("%s(other) while corp's refresh is held up = %v, want %v", tt.name, err, tt.want)
				}
			case <-timeout.C:
				t.Errorf("%s(other) waited 10 s on corp's refresh, want an answer at once", tt.name)
				defer func() { <-answered }()
			}
			close(store.release)
			if err := <-refreshed; err != nil {
				t.Errorf("Token(corp) = %v", err)
			}
		})
	}
}
