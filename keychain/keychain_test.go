package keychain_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/brokerd/brokerd/keychain"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var testKeys = keychain.Keys{AccessKeyID: testKeyID, SecretAccessKey: testSecret}

// fakeBackend is an in-memory keychain. err, when set, is what every call
// returns; block, when set, holds every call until it is closed.
type fakeBackend struct {
	mu    sync.Mutex
	items map[[2]string]string
	err   error
	block chan struct{}
	calls map[string]int // calls started, by method
}

var _ keychain.Backend = (*fakeBackend)(nil)

func newBackend() *fakeBackend {
	return &fakeBackend{items: map[[2]string]string{}, calls: map[string]int{}}
}

func (b *fakeBackend) wait(method string) error {
	b.mu.Lock()
	b.calls[method]++
	block, err := b.block, b.err
	b.mu.Unlock()
	if block != nil {
		<-block
	}
	return err
}

func (b *fakeBackend) Get(service, user string) (string, error) {
	if err := b.wait("Get"); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.items[[2]string{service, user}]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (b *fakeBackend) Set(service, user, secret string) error {
	if err := b.wait("Set"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items[[2]string{service, user}] = secret
	return nil
}

func (b *fakeBackend) Delete(service, user string) error {
	if err := b.wait("Delete"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := [2]string{service, user}
	if _, ok := b.items[k]; !ok {
		return keyring.ErrNotFound
	}
	delete(b.items, k)
	return nil
}

// Calls returns the calls started, by method.
func (b *fakeBackend) Calls() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.calls)
}

func (b *fakeBackend) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

func (b *fakeBackend) Put(user, secret string) {
	b.mu.Lock()
	b.items[[2]string{keychain.Service, user}] = secret
	b.mu.Unlock()
}

func TestStore_AddKeysRefusesInvalid(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		keys    keychain.Keys
	}{
		{"empty key id", "dev", keychain.Keys{SecretAccessKey: testSecret}},
		{"session key id", "dev", keychain.Keys{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: testSecret}},
		{"lower case key id", "dev", keychain.Keys{AccessKeyID: "akiaiosfodnn7example", SecretAccessKey: testSecret}},
		{"short key id", "dev", keychain.Keys{AccessKeyID: "AKIAIOSFODNN7EXAMPL", SecretAccessKey: testSecret}},
		{"long key id", "dev", keychain.Keys{AccessKeyID: "AKIAIOSFODNN7EXAMPLEX", SecretAccessKey: testSecret}},
		{"key id with newline", "dev", keychain.Keys{AccessKeyID: "AKIAIOSFODNN7EXAMPLE\n", SecretAccessKey: testSecret}},
		{"empty secret", "dev", keychain.Keys{AccessKeyID: testKeyID}},
		{"short secret", "dev", keychain.Keys{AccessKeyID: testKeyID, SecretAccessKey: testSecret[:39]}},
		{"long secret", "dev", keychain.Keys{AccessKeyID: testKeyID, SecretAccessKey: testSecret + "A"}},
		{"secret with space", "dev", keychain.Keys{AccessKeyID: testKeyID, SecretAccessKey: "wJalrXUtnFEMI K7MDENG/bPxRfiCYEXAMPLEKEY"}},
		{"secret with quote", "dev", keychain.Keys{AccessKeyID: testKeyID, SecretAccessKey: `wJalrXUtnFEMI"K7MDENG/bPxRfiCYEXAMPLEKEY`}},
		{"secret with newline", "dev", keychain.Keys{AccessKeyID: testKeyID, SecretAccessKey: testSecret[:39] + "\n"}},
		{"swapped", "dev", keychain.Keys{AccessKeyID: testSecret, SecretAccessKey: testKeyID}},
		{"index profile", "_profiles", testKeys},
		{"empty profile", "", testKeys},
		{"profile with slash", "a/b", testKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend()
			s := keychain.New(b)
			err := s.AddKeys(t.Context(), tt.profile, tt.keys)
			if err == nil {
				t.Fatalf("AddKeys(%q, %q/…) = nil, want an error", tt.profile, tt.keys.AccessKeyID)
			}
			if b.Len() != 0 {
				t.Errorf("AddKeys(%q, …) stored %d items, want none", tt.profile, b.Len())
			}
			for _, v := range []string{tt.keys.AccessKeyID, tt.keys.SecretAccessKey} {
				if v != "" && strings.Contains(err.Error(), strings.TrimSpace(v)) {
					t.Errorf("AddKeys(%q, …) = %q, which quotes the input %q", tt.profile, err, v)
				}
			}
		})
	}
}

func TestStore_ErrorsDoNotQuoteSecrets(t *testing.T) {
	// A backend whose errors hold no secret, and items whose text may be
	// one: the store's errors must quote neither key.
	b := newBackend()
	b.Put("dev", `{"AccessKeyId":"`+testKeyID+`","SecretAccessKey":"`+testSecret+`"`) // cut short
	s := keychain.New(b)
	_, err := s.Keys(t.Context(), "dev")
	if err == nil {
		t.Fatalf("Keys(%q) of a damaged item = nil error, want one", "dev")
	}
	for _, v := range []string{testKeyID, testSecret} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("Keys(%q) = %q, which quotes the item's %q", "dev", err, v)
		}
	}

	b = newBackend()
	b.err = errors.New("the keychain said no")
	err = keychain.New(b).AddKeys(t.Context(), "dev", testKeys)
	if err == nil || strings.Contains(err.Error(), testKeyID) || strings.Contains(err.Error(), testSecret) {
		t.Errorf("AddKeys(%q) with a failing backend = %v, want an error quoting no key", "dev", err)
	}
}

func TestStore_KeysRoundTrip(t *testing.T) {
	b := newBackend()
	s := keychain.New(b)
	if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
		t.Fatalf("AddKeys(%q) = %v", "dev", err)
	}
	got, err := s.Keys(t.Context(), "dev")
	if err != nil || got != testKeys {
		t.Errorf("Keys(%q) = %+v, %v, want %+v, nil", "dev", got, err, testKeys)
	}

	other := keychain.Keys{AccessKeyID: "AKIAI44QH8DHBEXAMPLE", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}
	if err := s.AddKeys(t.Context(), "dev", other); err != nil {
		t.Fatalf("AddKeys(%q) again = %v", "dev", err)
	}
	if got, err := s.Keys(t.Context(), "dev"); err != nil || got != other {
		t.Errorf("Keys(%q) after replacing = %+v, %v, want %+v, nil", "dev", got, err, other)
	}

	if _, err := s.Keys(t.Context(), "prod"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("Keys(%q) of a profile without keys = %v, want ErrNotFound", "prod", err)
	}
}

func TestStore_Profiles(t *testing.T) {
	b := newBackend()
	s := keychain.New(b)
	if got, err := s.Profiles(t.Context()); err != nil || len(got) != 0 {
		t.Fatalf("Profiles() of an empty keychain = %q, %v, want none, nil", got, err)
	}
	for _, p := range []string{"zeta", "alpha", "mid", "alpha"} {
		if err := s.AddKeys(t.Context(), p, testKeys); err != nil {
			t.Fatalf("AddKeys(%q) = %v", p, err)
		}
	}
	want := []string{"alpha", "mid", "zeta"}
	if got, err := s.Profiles(t.Context()); err != nil || !slices.Equal(got, want) {
		t.Errorf("Profiles() = %q, %v, want %q, nil", got, err, want)
	}

	if err := s.RemoveKeys(t.Context(), "mid"); err != nil {
		t.Fatalf("RemoveKeys(%q) = %v", "mid", err)
	}
	want = []string{"alpha", "zeta"}
	if got, err := s.Profiles(t.Context()); err != nil || !slices.Equal(got, want) {
		t.Errorf("Profiles() after RemoveKeys(mid) = %q, %v, want %q, nil", got, err, want)
	}
	if _, err := s.Keys(t.Context(), "mid"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("Keys(%q) after RemoveKeys = %v, want ErrNotFound", "mid", err)
	}
}

// TestStore_RemoveKeysEndsSession checks that removing a profile's keys
// removes the MFA session they opened too, found or not: a daemon started
// later would otherwise serve that session without the keys.
func TestStore_RemoveKeysEndsSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys bool
		want error
	}{
		{"with keys", true, nil},
		{"keys already gone", false, keychain.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := keychain.New(newBackend())
			if tc.keys {
				if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
					t.Fatal(err)
				}
			}
			sess := keychain.Session{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s", SessionToken: "t", Expires: time.Now().Add(time.Hour)}
			if err := s.SetSession(t.Context(), "dev", sess); err != nil {
				t.Fatal(err)
			}
			if err := s.RemoveKeys(t.Context(), "dev"); !errors.Is(err, tc.want) {
				t.Errorf("RemoveKeys(%q) = %v, want %v", "dev", err, tc.want)
			}
			if _, err := s.Session(t.Context(), "dev"); !errors.Is(err, keychain.ErrNotFound) {
				t.Errorf("Session(%q) after RemoveKeys = %v, want ErrNotFound", "dev", err)
			}
		})
	}
}

func TestStore_RemoveKeysMissing(t *testing.T) {
	b := newBackend()
	s := keychain.New(b)
	if err := s.RemoveKeys(t.Context(), "ghost"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("RemoveKeys(%q) of a profile without keys = %v, want ErrNotFound", "ghost", err)
	}

	// Keys gone from the keychain but still in the index: the index is
	// mended and the error still says not found.
	if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(keychain.Service, "dev"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveKeys(t.Context(), "dev"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("RemoveKeys(%q) of keys deleted behind its back = %v, want ErrNotFound", "dev", err)
	}
	if got, err := s.Profiles(t.Context()); err != nil || len(got) != 0 {
		t.Errorf("Profiles() after that = %q, %v, want none", got, err)
	}
}

// indexFails is a keychain that stores keys but fails to store the index.
type indexFails struct{ *fakeBackend }

var _ keychain.Backend = indexFails{}

func (b indexFails) Set(service, user, secret string) error {
	if user == "_profiles" {
		return errors.New("disk full")
	}
	return b.fakeBackend.Set(service, user, secret)
}

func TestStore_AddKeysIndexFails(t *testing.T) {
	b := indexFails{newBackend()}
	s := keychain.New(b)
	err := s.AddKeys(t.Context(), "dev", testKeys)
	if err == nil || !strings.Contains(err.Error(), "profile list") || strings.Contains(err.Error(), testSecret) {
		t.Errorf("AddKeys(%q) with the index failing = %v, want an error about the profile list", "dev", err)
	}
}

func TestStore_DamagedIndex(t *testing.T) {
	b := newBackend()
	b.Put("_profiles", "not json")
	s := keychain.New(b)
	if _, err := s.Profiles(t.Context()); err == nil || !strings.Contains(err.Error(), "not brokerd's format") {
		t.Errorf("Profiles() with a damaged index = %v, want a format error", err)
	}
}

func TestStore_Timeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend()
		b.block = make(chan struct{})
		defer close(b.block) // lets the abandoned calls end
		s := keychain.New(b)
		s.Timeout = 5 * time.Second

		calls := []struct {
			name string
			call func() error
		}{
			{"Keys", func() error { _, err := s.Keys(t.Context(), "dev"); return err }},
			{"AddKeys", func() error { return s.AddKeys(t.Context(), "dev", testKeys) }},
			{"RemoveKeys", func() error { return s.RemoveKeys(t.Context(), "dev") }},
			{"Profiles", func() error { _, err := s.Profiles(t.Context()); return err }},
		}
		for _, c := range calls {
			start := time.Now()
			err := c.call()
			if !errors.Is(err, keychain.ErrTimeout) {
				t.Errorf("%s with a keychain that does not answer = %v, want ErrTimeout", c.name, err)
			}
			// In the bubble time moves only when everything waits, so this
			// is exact: the call gave up at its timeout, not later.
			if d := time.Since(start); d != s.Timeout {
				t.Errorf("%s gave up after %v, want %v", c.name, d, s.Timeout)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Keys(ctx, "dev"); !errors.Is(err, context.Canceled) || errors.Is(err, keychain.ErrTimeout) {
			t.Errorf("Keys with a canceled context = %v, want context.Canceled", err)
		}
	})
}

// A read of an item that finds an earlier read of it still blocked waits
// for that one instead of calling the keychain again; each caller still
// gives up at its own timeout. Writes are never shared, and a read that
// starts after a write does not join a read from before it.
func TestStore_BlockedReadsShareOneCall(t *testing.T) {
	type call func(context.Context, *keychain.Store) error
	keys := func(p string) call {
		return func(ctx context.Context, s *keychain.Store) error { _, err := s.Keys(ctx, p); return err }
	}
	session := func(ctx context.Context, s *keychain.Store) error { _, err := s.Session(ctx, "dev"); return err }
	profiles := func(ctx context.Context, s *keychain.Store) error { _, err := s.Profiles(ctx); return err }
	setSession := func(ctx context.Context, s *keychain.Store) error {
		return s.SetSession(ctx, "dev", keychain.Session{})
	}
	deleteSession := func(ctx context.Context, s *keychain.Store) error { return s.DeleteSession(ctx, "dev") }
	tests := []struct {
		name       string
		concurrent bool
		calls      []call
		want       map[string]int // backend calls started, by method
		after      map[string]int // the same once the keychain answered; nil: not checked
	}{
		{"concurrent reads of one item", true, slices.Repeat([]call{keys("dev")}, 20), map[string]int{"Get": 1}, nil},
		// One read every 5 s: the first call, blocked for a minute, is
		// given up once, and the second lasts the remaining 40 s.
		{"sequential reads of one item", false, slices.Repeat([]call{keys("dev")}, 20), map[string]int{"Get": 2}, nil},
		{"reads of the profile list", false, slices.Repeat([]call{profiles}, 5), map[string]int{"Get": 1}, nil},
		{"reads of other items", true, []call{keys("dev"), keys("prod"), session, profiles}, map[string]int{"Get": 4}, nil},
		// Not shared, but one at a time: each once the one before ended.
		{"writes", true, []call{setSession, setSession, setSession}, map[string]int{"Set": 1}, map[string]int{"Set": 3}},
		{"a delete after a set given up on", false, []call{setSession, deleteSession}, map[string]int{"Set": 1}, map[string]int{"Set": 1, "Delete": 1}},
		{"reads around a write", false, []call{session, session, setSession, session, session}, map[string]int{"Get": 2, "Set": 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBackend()
				b.block = make(chan struct{})
				s := keychain.New(b)

				var wg sync.WaitGroup
				for i, c := range tt.calls {
					run := func() {
						start := time.Now()
						if err := c(t.Context(), s); !errors.Is(err, keychain.ErrTimeout) || time.Since(start) != s.Timeout {
							t.Errorf("call %d with a blocked keychain = %v after %v, want ErrTimeout after %v", i, err, time.Since(start), s.Timeout)
						}
					}
					if tt.concurrent {
						wg.Go(run)
					} else {
						run()
					}
				}
				wg.Wait()
				if got := b.Calls(); !maps.Equal(got, tt.want) {
					t.Errorf("backend calls = %v, want %v", got, tt.want)
				}

				// Once the keychain answers, a read calls it anew.
				close(b.block)
				synctest.Wait()
				if got := b.Calls(); tt.after != nil && !maps.Equal(got, tt.after) {
					t.Errorf("backend calls once the keychain answered = %v, want %v", got, tt.after)
				}
				if err := tt.calls[0](t.Context(), s); err != nil && !errors.Is(err, keychain.ErrNotFound) {
					t.Errorf("call 0 after the keychain answered = %v, want no error or ErrNotFound", err)
				}
			})
		})
	}
}

func TestStore_ReadsShareResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend()
		if err := keychain.New(b).AddKeys(t.Context(), "dev", testKeys); err != nil {
			t.Fatal(err)
		}
		b.block = make(chan struct{})
		s := keychain.New(b)
		before := b.Calls()["Get"]

		const n = 10
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if got, err := s.Keys(t.Context(), "dev"); err != nil || got != testKeys {
					t.Errorf("Keys(%q) = %v, %v, want the stored keys", "dev", got.AccessKeyID, err)
				}
			})
		}
		synctest.Wait()
		close(b.block)
		wg.Wait()
		if got := b.Calls()["Get"] - before; got != 1 {
			t.Errorf("backend reads for %d concurrent Keys(%q) = %d, want 1", n, "dev", got)
		}
	})
}

// slowIndex is a keychain whose first read of the profile list blocks until
// release is closed.
type slowIndex struct {
	*fakeBackend
	release chan struct{}
	slow    atomic.Bool
}

var _ keychain.Backend = (*slowIndex)(nil)

func (b *slowIndex) Get(service, user string) (string, error) {
	if user == "_profiles" && b.slow.CompareAndSwap(false, true) {
		<-b.release
	}
	return b.fakeBackend.Get(service, user)
}

// AddKeys reads the profile list anew, not through a read that began
// before it and may miss another process's change.
func TestStore_AddKeysReadsIndexAnew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &slowIndex{fakeBackend: newBackend(), release: make(chan struct{})}
		defer close(b.release)
		s := keychain.New(b)
		if _, err := s.Profiles(t.Context()); !errors.Is(err, keychain.ErrTimeout) {
			t.Fatalf("Profiles() with its read blocked = %v, want ErrTimeout", err)
		}
		b.Put("other", "{}") // as another process adds a profile meanwhile
		b.Put("_profiles", `["other"]`)
		if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
			t.Fatalf("AddKeys(%q) while an older read of the list is blocked = %v", "dev", err)
		}
		if got, err := s.Profiles(t.Context()); err != nil || !slices.Equal(got, []string{"dev", "other"}) {
			t.Errorf("Profiles() = %q, %v, want [dev other]", got, err)
		}
	})
}

func TestStore_ClassifiesBackendErrors(t *testing.T) {
	tests := []struct {
		msg  string
		want error // nil: neither locked nor unavailable
	}{
		{"failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'", keychain.ErrLocked},
		{"Cannot create an item in a locked collection", keychain.ErrLocked},
		{"User interaction is not allowed.", keychain.ErrLocked},
		{"Prompt dismissed", keychain.ErrLocked},
		{"The name org.freedesktop.secrets was not provided by any .service files", keychain.ErrUnavailable},
		{"dbus: couldn't determine address of session bus", keychain.ErrUnavailable},
		{"something else entirely", nil},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			b := newBackend()
			b.err = errors.New(tt.msg)
			s := keychain.New(b)
			_, kerr := s.Keys(t.Context(), "dev")
			aerr := s.AddKeys(t.Context(), "dev", testKeys)
			_, perr := s.Profiles(t.Context())
			rerr := s.RemoveKeys(t.Context(), "dev")
			for name, err := range map[string]error{"Keys": kerr, "AddKeys": aerr, "Profiles": perr, "RemoveKeys": rerr} {
				if err == nil {
					t.Errorf("%s with backend error %q = nil, want an error", name, tt.msg)
					continue
				}
				for _, sentinel := range []error{keychain.ErrLocked, keychain.ErrUnavailable, keychain.ErrNotFound} {
					if got, want := errors.Is(err, sentinel), sentinel == tt.want; got != want {
						t.Errorf("errors.Is(%s error %q, %v) = %v, want %v", name, err, sentinel, got, want)
					}
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("%s error = %q, want the backend's %q in it", name, err, tt.msg)
				}
			}
		})
	}
}

// exitError returns the *exec.ExitError of a process that exits with code,
// as go-keyring returns it from /usr/bin/security on macOS.
func exitError(t *testing.T, code int) error {
	t.Helper()
	err := exec.Command("sh", "-c", fmt.Sprintf("exit %d", code)).Run()
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("sh -c 'exit %d' = %v, want an *exec.ExitError", code, err)
	}
	return err
}

func TestStore_ClassifiesSecurityExitStatus(t *testing.T) {
	tests := []struct {
		code   int
		want   error // nil: none of the package's errors
		wantIn string
	}{
		{36, keychain.ErrLocked, "errSecInteractionNotAllowed"},
		{51, keychain.ErrLocked, "errSecAuthFailed"},
		{128, keychain.ErrLocked, "errSecUserCanceled"},
		{44, keychain.ErrNotFound, ""},
		{1, nil, "exit status 1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			for _, berr := range []error{exitError(t, tt.code), fmt.Errorf("wrapped: %w", exitError(t, tt.code))} {
				b := newBackend()
				b.err = berr
				_, err := keychain.New(b).Keys(t.Context(), "dev")
				for _, sentinel := range []error{keychain.ErrLocked, keychain.ErrUnavailable, keychain.ErrNotFound} {
					if got, want := errors.Is(err, sentinel), sentinel == tt.want; got != want {
						t.Errorf("errors.Is(Keys error %q, %v) = %v, want %v", err, sentinel, got, want)
					}
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
					t.Errorf("Keys with backend error %q = %v, want %q in it", berr, err, tt.wantIn)
				}
			}
		})
	}
}

// TestSystem_MockKeyring goes through go-keyring itself, with its in-memory
// mock; not parallel, the mock is a global without a lock.
func TestSystem_MockKeyring(t *testing.T) {
	keyring.MockInit()
	s := keychain.New(keychain.System{})
	if _, err := s.Keys(t.Context(), "dev"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("Keys(%q) of an empty keyring = %v, want ErrNotFound", "dev", err)
	}
	if err := s.AddKeys(t.Context(), "dev", testKeys); err != nil {
		t.Fatalf("AddKeys(%q) = %v", "dev", err)
	}
	if got, err := s.Keys(t.Context(), "dev"); err != nil || got != testKeys {
		t.Errorf("Keys(%q) = %+v, %v, want %+v", "dev", got, err, testKeys)
	}
	if got, err := s.Profiles(t.Context()); err != nil || !slices.Equal(got, []string{"dev"}) {
		t.Errorf("Profiles() = %q, %v, want [dev]", got, err)
	}
	if err := s.RemoveKeys(t.Context(), "dev"); err != nil {
		t.Errorf("RemoveKeys(%q) = %v", "dev", err)
	}
	if err := s.RemoveKeys(t.Context(), "dev"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("RemoveKeys(%q) twice = %v, want ErrNotFound", "dev", err)
	}

	keyring.MockInitWithError(errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"))
	if _, err := s.Keys(t.Context(), "dev"); !errors.Is(err, keychain.ErrLocked) {
		t.Errorf("Keys(%q) of a locked keyring = %v, want ErrLocked", "dev", err)
	}
	keyring.MockInit()
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AKIAIOSFODNN7EXAMPLE", "AKIA…MPLE"},
		{"ASIAIOSFODNN7EXAMPLE", "ASIA…MPLE"},
		{"", "…"},
		{"AKIA", "…"},
		{"AKIA12345678", "AKIA…5678"},
	}
	for _, tt := range tests {
		if got := keychain.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidProfile(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"dev", true},
		{"default", true},
		{"Prod-EU_1.a@b+c=d", true},
		{"9lives", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"_profiles", false},
		{"", false},
		{"my profile", false},
		{" dev", false},
		{"a/b", false},
		{"../dev", false},
		{"-dev", false},
		{".dev", false},
		{"dev\n", false},
		{"dév", false},
	}
	for _, tt := range tests {
		err := keychain.ValidProfile(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidProfile(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestAddKeys_ConcurrentKeepsEveryProfile(t *testing.T) {
	b := newBackend()
	lock := filepath.Join(t.TempDir(), "keychain.lock")
	// Two stores over one keychain, as two brokerd commands run at once.
	stores := []*keychain.Store{keychain.New(b), keychain.New(b)}
	for _, s := range stores {
		s.LockFile = lock
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stores[i%2].AddKeys(context.Background(), fmt.Sprintf("p%02d", i), testKeys); err != nil {
				t.Errorf("AddKeys(p%02d) = %v", i, err)
			}
		}()
	}
	wg.Wait()
	names, err := stores[0].Profiles(context.Background())
	if err != nil || len(names) != 20 {
		t.Errorf("Profiles() = %v, %v; want all 20 profiles", names, err)
	}
}

func TestKeys_Validate(t *testing.T) {
	const id, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		id, secret string
		ok         bool
	}{
		{id, secret, true},
		{id[:19], secret, false},
		{id + "A", secret, false},
		{"ASIA" + id[4:], secret, false},
		{"AKIAiosfodnn7example", secret, false},
		{id, secret[:39], false},
		{id, secret + "A", false},
		{id, secret[:39] + "!", false},
		{"", secret, false},
		{id, "", false},
	}
	for _, tt := range tests {
		err := keychain.Keys{AccessKeyID: tt.id, SecretAccessKey: tt.secret}.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("Keys{%q, %d characters}.Validate() = %v, want ok %v", tt.id, len(tt.secret), err, tt.ok)
		}
		if err != nil && tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
			t.Errorf("Validate() = %v, quotes the secret", err)
		}
	}
}
