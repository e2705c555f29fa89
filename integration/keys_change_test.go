//go:build integration

package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/brokerd/brokerd/keychain"
)

// TestKeysRemoveDropsDerived removes the keys of a source profile under a
// running daemon, as after a leak: within a second the role sourced from
// them answers an error, not the credentials they signed (`brokerd keys
// remove` tells the daemon over the control socket).
func TestKeysRemoveDropsDerived(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)
	old := d.credentials(t, prod)
	d.credentials(t, dev)

	e.mustRun(t, "", "keys", "remove", dev)
	removed := time.Now()
	var r response
	for {
		r = d.get(t, "/v1/credentials/"+prod, nil)
		if r.status != http.StatusOK || time.Since(removed) > time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(removed)
	t.Logf("after keys remove, %s answered %d within %v", prod, r.status, took.Round(time.Millisecond))
	if r.status == http.StatusOK {
		c, _ := decodeCredentials(r)
		same := c.AccessKeyID == old.AccessKeyID
		t.Fatalf("%s still served credentials (the old ones: %v) 1 s after its source's keys were removed", prod, same)
	}
	wantAPIError(t, r, http.StatusNotFound, "NoKeys", "run `brokerd keys add "+dev+"`")
	wantAPIError(t, d.get(t, "/v1/credentials/"+dev, nil), http.StatusNotFound, "NoKeys", "run `brokerd keys add "+dev+"`")
	if p := profileStatus(t, e.status(t), prod); p.Expires != nil {
		t.Errorf("brokerd status still shows credentials for %s expiring %v after the keys were removed", prod, *p.Expires)
	}
}

// TestKeysAddHeals stores working keys for a failing profile: the next
// request is served at once, without waiting for the retry window that
// the failure opened. Once with keys STS refuses (a retry window), once
// with no keys at all.
func TestKeysAddHeals(t *testing.T) {
	t.Parallel()
	t.Run("refused keys", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.setenv("AWS_ENDPOINT_URL_STS", authSTS.URL)
		e.writeConfig(t, roleConfig)
		dev, prod := e.profile("dev"), e.profile("prod")
		good := authSTS.newAccessKey(t, authSTS.newUser(t, dev, true))
		e.addKeys(t, dev, randomKeys(t)) // keys IAM never issued
		d := e.startDaemon(t, "--default-profile", prod)

		wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), http.StatusForbidden, "InvalidClientTokenId", "brokerd keys add "+dev)
		// The failure opened a retry window: the stored error, at once.
		wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), http.StatusForbidden, "InvalidClientTokenId", "brokerd keys add "+dev)

		e.replaceKeys(t, dev, good)
		added := time.Now()
		d.credentials(t, prod)
		t.Logf("after keys add, %s was served within %v", prod, time.Since(added).Round(time.Millisecond))
	})
	t.Run("no keys", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.writeConfig(t, roleConfig)
		dev, prod := e.profile("dev"), e.profile("prod")
		d := e.startDaemon(t, "--default-profile", prod)

		wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), http.StatusNotFound, "NoKeys", "run `brokerd keys add "+dev+"`")
		wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), http.StatusNotFound, "NoKeys", "run `brokerd keys add "+dev+"`")

		e.addKeys(t, dev, randomKeys(t))
		added := time.Now()
		d.credentials(t, prod)
		t.Logf("after keys add, %s was served within %v", prod, time.Since(added).Round(time.Millisecond))
	})
}

// TestKeysRemoveGoneKeysEndsSession runs `brokerd keys remove` for a source
// profile whose keys item is already gone from the keychain (deleted in
// Seahorse, say) while its MFA session is open in the daemon: the command
// says there were no keys, and the daemon still ends the session and drops
// what it signed, as keys remove promises.
func TestKeysRemoveGoneKeysEndsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, mfaConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)
	e.mustRun(t, "", "login", dev, "--code", mfaTestCode)
	d.credentials(t, prod)

	if err := keychain.New(keychain.System{}).RemoveKeys(t.Context(), dev); err != nil {
		t.Fatalf("remove the keys of %s behind brokerd's back: %v", dev, err)
	}
	// The daemon still holds the session in memory.
	d.credentials(t, prod)
	r := e.run(t, "", "keys", "remove", dev)
	wantOneLineError(t, r, "has no keys in the keychain")
	wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), http.StatusUnauthorized, "LoginRequired", "brokerd login "+dev)
	if s := findSession(e.status(t), dev); s != nil {
		t.Errorf("brokerd status after keys remove shows the MFA session of %s: %+v", dev, *s)
	}
}
