package sso_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
)

// waitingStore is a fakeStore whose Set of key, while wait is set, waits
// for its ctx, as the keychain's does behind an unlock prompt nobody
// answers, after saying so on entered.
type waitingStore struct {
	*fakeStore
	key     string
	wait    bool
	entered chan struct{}
}

func (s *waitingStore) Set(ctx context.Context, key string, blob []byte) error {
	if key == s.key && s.wait {
		s.entered <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	return s.fakeStore.Set(ctx, key, blob)
}

// TestClient_StoreUnsavedWhileABackgroundStoreWaits checks that a daemon
// that stops while a store of a token held in memory waits on the
// keychain in the background (for up to 30 s) waits no longer than
// StoreUnsaved's ctx, then Wait at once, and that no store starts in the
// background after StoreUnsaved: Wait would not wait for it.
func TestClient_StoreUnsavedWhileABackgroundStoreWaits(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	e.login(t, session)
	store := &waitingStore{fakeStore: e.store, key: session.Key(), entered: make(chan struct{}, 10)}
	c := sso.New(store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	e.store.refuseSets(errStore)
	e.clock.Advance(6 * time.Minute)
	if tok, err := c.Token(t.Context(), session); err != nil || !tok.InMemoryOnly {
		t.Fatalf("Token() refreshed while the store refuses writes = %+v, %v, want a token held in memory", tok, err)
	}
	store.wait = true // before any store in the background begins
	e.clock.Advance(time.Minute)
	if _, err := c.Token(t.Context(), session); err != nil {
		t.Fatal(err)
	}
	// Not sleeps: bounds on what must happen at once.
	select {
	case <-store.entered: // the store in the background waits on the keychain
	case <-time.After(10 * time.Second):
		t.Fatal("Token() a minute later did not offer the token held in memory to the store")
	}

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := c.StoreUnsaved(ctx)
		c.Wait()
		stopped <- err
	}()
	select {
	case err := <-stopped:
		if err == nil {
			t.Error("StoreUnsaved() with the keychain waiting = nil, want an error")
		}
		store.checkNoSecrets(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("StoreUnsaved(ctx of 100 ms) and Wait() took over 10 s: they waited for the store in the background")
	}

	select {
	case <-store.entered: // StoreUnsaved's own offer
	default:
		t.Error("StoreUnsaved() did not offer the token held in memory to the store")
	}

	e.clock.Advance(time.Minute) // an offer is due again, the token still fresh
	if tok, err := c.Token(t.Context(), session); err != nil || !tok.InMemoryOnly {
		t.Fatalf("Token() after StoreUnsaved = %+v, %v, want the token held in memory", tok, err)
	}
	c.Wait()
	select {
	case <-store.entered:
		t.Error("Token() after StoreUnsaved began a store in the background")
	default:
	}
}

// refusingOnceStore is a fakeStore whose first Set of key says so on
// entered, waits until release is closed and is refused: a refresh whose
// store the keychain refuses while a daemon stops.
type refusingOnceStore struct {
	*fakeStore
	key     string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *refusingOnceStore) Set(ctx context.Context, key string, blob []byte) error {
	refuse := false
	if key == s.key {
		s.once.Do(func() { refuse = true })
	}
	if refuse {
		close(s.entered)
		<-s.release
		return errStore
	}
	return s.fakeStore.Set(ctx, key, blob)
}

// waitingCtx is a context that says on waiting when something first
// waits for its end.
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// TestClient_StoreUnsavedAfterARefreshInFlight checks that StoreUnsaved,
// at a daemon's stop, stores the token of a refresh under way that the
// keychain refuses: it holds the token only in memory once StoreUnsaved
// has begun, and its refresh token, stored before, is spent.
func TestClient_StoreUnsavedAfterARefreshInFlight(t *testing.T) {
	e := newEnv(t, ssofake.Config{TokenLifetime: 10 * time.Minute})
	e.login(t, session)
	store := &refusingOnceStore{fakeStore: e.store, key: session.Key(), entered: make(chan struct{}), release: make(chan struct{})}
	c := sso.New(store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: e.fake.URL, PortalEndpoint: e.fake.URL})
	e.clock.Advance(6 * time.Minute) // a refresh is due
	refreshed := make(chan sso.Token, 1)
	go func() {
		tok, err := c.Token(context.Background(), session)
		if err != nil {
			t.Errorf("Token() = %v", err)
		}
		refreshed <- tok
	}()
	<-store.entered // the refresh's store waits on the keychain
	base, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx := &waitingCtx{Context: base, waiting: make(chan struct{})}
	stored := make(chan error, 1)
	go func() { stored <- c.StoreUnsaved(ctx) }()
	select {
	case <-ctx.waiting: // StoreUnsaved waits for the refresh
	case err := <-stored:
		t.Errorf("StoreUnsaved() = %v before the refresh under way ended, want it to wait for it", err)
		stored <- err
	}
	close(store.release)
	tok := <-refreshed // held in memory, unless StoreUnsaved stored it already
	if err := <-stored; err != nil {
		t.Errorf("StoreUnsaved() = %v", err)
	}
	if e.store.field(session.Key(), "accessToken") != tok.AccessToken {
		t.Error("the store does not hold the token refreshed while StoreUnsaved began")
	}
	c.Wait()
}
