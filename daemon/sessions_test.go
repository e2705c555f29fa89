package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerd/brokerd/keychain"
)

// lockableKeychain is a fakeKeychain that can be locked.
type lockableKeychain struct {
	*fakeKeychain
	locked atomic.Bool
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
