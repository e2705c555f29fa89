package daemon

import (
	"os"
	"reflect"
	"testing"

	"github.com/brokerd/brokerd/control"
)

// TestService_NamesReadNoKeychain checks that the names completion asks
// for come without a read of the keychain, which a locked Secret Service
// answers with an unlock prompt: the config file's, and those with keys
// when the keychain was last read, as keys added and removed since change
// them.
func TestService_NamesReadNoKeychain(t *testing.T) {
	w := newWorld(t)
	if err := os.WriteFile(w.config, []byte(testConfig+"[sso-session my-sso]\nsso_start_url = https://my-sso.awsapps.com/start\nsso_region = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.keys.keys["ci"] = w.keys.keys["dev"]
	keys := &countingKeychain{lockableKeychain: &lockableKeychain{fakeKeychain: w.keys}}
	s := newTestService(t, w, nil)
	s.keys = keys
	ctx := t.Context()

	names := func() control.Names {
		t.Helper()
		before := keys.reads.Load()
		n, err := s.Names(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if keys.reads.Load() != before {
			t.Errorf("Names() read the keychain's profile list")
		}
		return n
	}
	// Not read yet, and locked: the config file's names.
	keys.locked.Store(true)
	want := control.Names{Profiles: []string{"dev", "prod"}, SSOSessions: []string{"my-sso"}}
	if got := names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() before the keychain was read = %+v, want %+v", got, want)
	}
	// Read once unlocked (status does), then locked again.
	keys.locked.Store(false)
	if _, err := s.Status(ctx); err != nil {
		t.Fatal(err)
	}
	keys.locked.Store(true)
	want.Profiles = []string{"ci", "dev", "prod"}
	if got := names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() after the keychain was read = %+v, want %+v", got, want)
	}
	if err := s.KeysChanged(ctx, control.KeysChange{Profile: "ops"}); err != nil {
		t.Fatal(err)
	}
	if err := s.KeysChanged(ctx, control.KeysChange{Profile: "ci", Removed: true}); err != nil {
		t.Fatal(err)
	}
	want.Profiles = []string{"dev", "ops", "prod"}
	if got := names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() after keys of ops were added and of ci removed = %+v, want %+v", got, want)
	}
	if n := keys.reads.Load(); n != 1 {
		t.Errorf("the keychain's profile list was read %d times, want once (by status)", n)
	}
}
