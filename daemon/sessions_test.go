package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/keychain"
)

// lockableKeychain is a fakeKeychain that can be locked, or whose MFA
// sessions alone cannot be read (sessionsFail: an item's read that timed
// out).
type lockableKeychain struct {
	*fakeKeychain
	locked       atomic.Bool
	sessionsFail atomic.Bool
}

var _ Keychain = (*lockableKeychain)(nil)

func (k *lockableKeychain) Profiles(ctx context.Context) ([]string, error) {
	if k.locked.Load() {
		return nil, keychain.ErrLocked
	}
	return k.fakeKeychain.Profiles(ctx)
}

func (k *lockableKeychain) Session(ctx context.Context, name string) (keychain.Session, error) {
	if k.locked.Load() {
		return keychain.Session{}, keychain.ErrLocked
	}
	if k.sessionsFail.Load() {
		return keychain.Session{}, keychain.ErrTimeout
	}
	return k.fakeKeychain.Session(ctx, name)
}

// TestRun_SessionsReadOnceUnlocked checks that the MFA session kept in a
// keychain that was locked when the daemon started (a user service at
// boot, before the desktop login) shows in status once it is unlocked,
// without a request for a role first.
func TestRun_SessionsReadOnceUnlocked(t *testing.T) {
	w := newWorld(t)
	expires := time.Now().Add(10 * time.Hour).UTC().Truncate(time.Second)
	w.keys.sessions["dev"] = keychain.Session{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", SecretAccessKey: "s", SessionToken: "t",
		Expires: expires, MFASerial: "arn:aws:iam::111111111111:mfa/dev"}
	keys := &lockableKeychain{fakeKeychain: w.keys}
	keys.locked.Store(true)
	r := w.runWith(t, func(c *Config) { c.Keys = keys })

	st, err := r.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 0 {
		t.Fatalf("Status() with the keychain locked = sessions %+v, want none", st.Sessions)
	}
	keys.locked.Store(false)
	st, err = r.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 1 || st.Sessions[0].Profile != "dev" || !st.Sessions[0].Expires.Equal(expires) {
		t.Errorf("Status() once the keychain is unlocked = sessions %+v, want dev's, until %v", st.Sessions, expires)
	}
}

// TestRun_SessionsReadAgainAfterAFailedRead checks that an MFA session
// whose read failed while the profile list was read (a read that timed
// out) is read again at the next status: it was taken for read, and status
// showed none until a request for a role read it.
func TestRun_SessionsReadAgainAfterAFailedRead(t *testing.T) {
	w := newWorld(t)
	expires := time.Now().Add(10 * time.Hour).UTC().Truncate(time.Second)
	w.keys.sessions["dev"] = keychain.Session{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", SecretAccessKey: "s", SessionToken: "t",
		Expires: expires, MFASerial: "arn:aws:iam::111111111111:mfa/dev"}
	keys := &lockableKeychain{fakeKeychain: w.keys}
	keys.sessionsFail.Store(true)
	r := w.runWith(t, func(c *Config) { c.Keys = keys })

	st, err := r.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 0 {
		t.Fatalf("Status() with the sessions unreadable = sessions %+v, want none", st.Sessions)
	}
	keys.sessionsFail.Store(false)
	st, err = r.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 1 || st.Sessions[0].Profile != "dev" || !st.Sessions[0].Expires.Equal(expires) {
		t.Errorf("Status() once the sessions can be read = sessions %+v, want dev's, until %v", st.Sessions, expires)
	}
}

// countingKeychain counts the reads of a lockableKeychain's profile list.
type countingKeychain struct {
	*lockableKeychain
	reads atomic.Int32
}

var _ Keychain = (*countingKeychain)(nil)

func (k *countingKeychain) Profiles(ctx context.Context) ([]string, error) {
	k.reads.Add(1)
	return k.lockableKeychain.Profiles(ctx)
}

// TestWatchSessions_LockedKeychainReadOnce checks that the session watch
// reads a locked keychain once, at start, and not again as it wakes: each
// read of a locked Secret Service shows the person an unlock prompt.
func TestWatchSessions_LockedKeychainReadOnce(t *testing.T) {
	w := newWorld(t)
	keys := &countingKeychain{lockableKeychain: &lockableKeychain{fakeKeychain: w.keys}}
	keys.locked.Store(true)
	s := newTestService(t, w, nil)
	clock := clockwork.NewFakeClock()
	s.keys, s.clock = keys, clock
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.watchSessions(ctx); close(done) }()
	for range 4 { // 20 minutes of wakes
		clock.BlockUntilContext(ctx, 1)
		clock.Advance(maxSleep)
	}
	clock.BlockUntilContext(ctx, 1)
	cancel()
	<-done
	if n := keys.reads.Load(); n != 1 {
		t.Errorf("the locked keychain was read %d times in 20 minutes, want once", n)
	}
}

// TestRun_SessionUsedUntil checks that login and status say when the
// daemon stops using an MFA session, broker.SessionMinLeft before it
// ends, so that the CLI names that as when the next login is due.
func TestRun_SessionUsedUntil(t *testing.T) {
	w := newWorld(t)
	expires := time.Now().Add(10 * time.Hour).UTC().Truncate(time.Second)
	w.keys.sessions["dev"] = keychain.Session{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", SecretAccessKey: "s", SessionToken: "t",
		Expires: expires, MFASerial: "arn:aws:iam::111111111111:mfa/dev"}
	d := w.run(t)

	st, err := d.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := expires.Add(-broker.SessionMinLeft); len(st.Sessions) != 1 || !st.Sessions[0].UsedUntil.Equal(want) {
		t.Errorf("Status() = sessions %+v, want dev's used until %v, %v before it expires", st.Sessions, want, broker.SessionMinLeft)
	}

	res, err := d.client.Login(t.Context(), control.Login{Profile: "prod", Code: "123456", DurationSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if want := res.Expires.Add(-broker.SessionMinLeft); res.Expires.IsZero() || !res.UsedUntil.Equal(want) {
		t.Errorf("Login(prod) = %+v, want the session used until %v, %v before it expires", res.Session, want, broker.SessionMinLeft)
	}
}
