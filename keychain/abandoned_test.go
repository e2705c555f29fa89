package keychain_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerd/brokerd/keychain"
)

// A write given up on (a keychain blocked behind its unlock prompt, which
// brokerd stops waiting for after its timeout) is not overtaken by a later
// write of the item: an SSO token removed (brokerd logout) after a store
// of it was abandoned stays removed once the keychain answers, rather than
// coming back with the abandoned store, signed in at the next start.
func TestStore_AbandonedWriteNotOvertaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend()
		prompt := make(chan struct{})
		b.block = prompt
		tokens := keychain.New(b).SSO()
		if err := tokens.Set(t.Context(), "corp", []byte(`{"accessToken":"token"}`)); !errors.Is(err, keychain.ErrTimeout) {
			t.Fatalf("Set with the keychain waiting on its prompt = %v, want ErrTimeout", err)
		}
		b.mu.Lock()
		b.block = nil // calls from now on do not wait; the Set still does
		b.mu.Unlock()
		tokens.Delete(t.Context(), "corp") // may wait for the Set, and give up
		close(prompt)                      // the keychain answers the Set
		synctest.Wait()
		if n := b.Len(); n != 0 {
			t.Errorf("the keychain holds %d items once the abandoned Set ended, want none: the Delete made after it was overtaken", n)
		}
	})
}

// A write queued behind one that never returns (go-keyring calls may
// block for ever) goes ahead after abandonRead, a minute, as a read does,
// rather than never.
func TestStore_WriteBehindAHungWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend()
		hung := make(chan struct{})
		defer close(hung) // lets the hung call end with the bubble
		b.block = hung
		tokens := keychain.New(b).SSO()
		tokens.Set(t.Context(), "corp", []byte(`{"accessToken":"token"}`))
		b.mu.Lock()
		b.block = nil
		b.mu.Unlock()
		start := time.Now()
		tokens.Delete(t.Context(), "corp") // gives up after 5 s
		time.Sleep(start.Add(59 * time.Second).Sub(time.Now()))
		synctest.Wait()
		if n := b.Calls()["Delete"]; n != 0 {
			t.Errorf("Delete reached the keychain %d times within a minute of a hung Set, want 0: it waits for it", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := b.Len(); n != 0 {
			t.Errorf("the keychain holds %d items, want none", n)
		}
		if n := b.Calls()["Delete"]; n == 0 {
			t.Error("Delete did not reach the keychain a minute after a hung Set, want it to go ahead")
		}
	})
}
