package keychain_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerd/brokerd/keychain"
)

// holdLock takes path's lock as another brokerd command would, through a
// file of its own.
func holdLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

// TestStore_LockFileTimeout holds the profile list's lock from elsewhere:
// an update gives up after its wait (10 s) with a message that says what
// to do, instead of hanging behind a stuck command.
func TestStore_LockFileTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lock := filepath.Join(t.TempDir(), "keychain.lock")
		holder := holdLock(t, lock)
		defer holder.Close()
		s := keychain.New(newBackend())
		s.LockFile = lock

		start := time.Now()
		err := s.AddKeys(t.Context(), "dev", testKeys)
		waited := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "locked by another brokerd command") || !strings.Contains(err.Error(), "try again") {
			t.Errorf("AddKeys with the lock held elsewhere = %v, want it to say another command holds the lock and to try again", err)
		}
		// In the bubble time moves only when everything waits: exact.
		if waited < 10*time.Second || waited > 10*time.Second+time.Second {
			t.Errorf("AddKeys gave up after %v, want 10 s", waited)
		}
		start = time.Now()
		if err := s.RemoveKeys(t.Context(), "dev"); err == nil || !strings.Contains(err.Error(), "locked by another brokerd command") {
			t.Errorf("RemoveKeys with the lock held elsewhere = %v, want a lock timeout", err)
		}
		if waited := time.Since(start); waited > 11*time.Second {
			t.Errorf("RemoveKeys gave up after %v, want 10 s", waited)
		}
	})
}

// TestStore_LockFileWaits releases the lock while an update waits for it:
// the update goes through.
func TestStore_LockFileWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lock := filepath.Join(t.TempDir(), "keychain.lock")
		holder := holdLock(t, lock)
		go func() {
			time.Sleep(3 * time.Second)
			holder.Close()
		}()
		s := keychain.New(newBackend())
		s.LockFile = lock

		start := time.Now()
		if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
			t.Fatalf("AddKeys after the lock was released = %v", err)
		}
		if waited := time.Since(start); waited < 3*time.Second || waited > 4*time.Second {
			t.Errorf("AddKeys took %v, want it to go on once the lock is free after 3 s", waited)
		}
		if names, err := s.Profiles(t.Context()); err != nil || !slices.Equal(names, []string{"dev"}) {
			t.Errorf("Profiles() = %v, %v, want [dev]", names, err)
		}
	})
}

// TestStore_LockFileSymlink plants a link where the lock file goes: it is
// refused, not followed, and its target is left alone.
func TestStore_LockFileSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "keychain.lock")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	s := keychain.New(newBackend())
	s.LockFile = lock
	if err := s.AddKeys(t.Context(), "dev", testKeys); err == nil || !strings.Contains(err.Error(), lock) {
		t.Errorf("AddKeys with a symlink as lock file = %v, want an error naming %s", err, lock)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep" {
		t.Errorf("the link's target holds %q, %v, want it untouched", b, err)
	}
	if fi, err := os.Lstat(lock); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted link: %v, %v; want it left as it is", fi, err)
	}
}

// TestStore_LockFileTimeoutChangesNothing checks that an update that
// cannot have the lock leaves the keys as they were, as well as the list:
// keys stored (or removed) by a command that then says it failed would be
// missing from (or left in) `keys list`, and the daemon not told.
func TestStore_LockFileTimeoutChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stored bool // keys for dev before
		update func(context.Context, *keychain.Store) error
	}{
		{"AddKeys", false, func(ctx context.Context, s *keychain.Store) error { return s.AddKeys(ctx, "dev", testKeys) }},
		{"RemoveKeys", true, func(ctx context.Context, s *keychain.Store) error { return s.RemoveKeys(ctx, "dev") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lock := filepath.Join(t.TempDir(), "keychain.lock")
				s := keychain.New(newBackend())
				if tc.stored {
					if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
						t.Fatal(err)
					}
				}
				s.LockFile = lock
				holder := holdLock(t, lock)
				defer holder.Close()
				if err := tc.update(t.Context(), s); err == nil || !strings.Contains(err.Error(), "locked by another brokerd command") {
					t.Fatalf("%s with the lock held elsewhere = %v, want a lock timeout", tc.name, err)
				}
				_, err := s.Keys(t.Context(), "dev")
				if stored := err == nil; stored != tc.stored {
					t.Errorf("after the failed %s, Keys(dev) = %v, want keys stored %v, as before", tc.name, err, tc.stored)
				}
			})
		})
	}
}
