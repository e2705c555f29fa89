package sso_test

import (
	"context"
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
