//go:build integration

package integration

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

// TestKeyRotationNeedsNoRestart rotates the keys of a running daemon's
// source profile against the STS that checks keys, where the old key stops
// working once deleted: a forced refresh (control API) and a reload (SIGHUP)
// sign with the keys now in the keychain, without restarting the daemon.
func TestKeyRotationNeedsNoRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", authSTS.URL)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	user := authSTS.newUser(t, dev, true)
	oldKeys := authSTS.newAccessKey(t, user)
	e.addKeys(t, dev, oldKeys)
	d := e.startDaemon(t)
	first := d.credentials(t, prod)

	// Rotate as IAM advises: a second key, stored, then the first deleted.
	newKeys := authSTS.newAccessKey(t, user)
	e.addKeys(t, dev, newKeys)
	authSTS.deleteAccessKey(t, user, oldKeys.ID)
	if got := d.credentials(t, prod); got != first {
		t.Errorf("credentials changed from %s to %s with no refresh due", first.AccessKeyID, got.AccessKeyID)
	}

	// A forced refresh can only succeed with the new keys.
	if err := control.NewClient(state.Dir{Path: e.StateDir}).Refresh(context.Background(), prod); err != nil {
		t.Fatalf("refresh %s after rotating the keys: %v", prod, err)
	}
	second := d.credentials(t, prod)
	if second.AccessKeyID == first.AccessKeyID {
		t.Fatalf("still serving %s after a forced refresh", first.AccessKeyID)
	}

	// Stale keys in the keychain: after a reload STS refuses them and the
	// answer and brokerd status say to store current ones.
	e.addKeys(t, dev, oldKeys)
	d.signal(t, syscall.SIGHUP)
	var r response
	waitFor(t, "the reload after SIGHUP to drop cached credentials", func() bool {
		r = d.get(t, "/v1/credentials/"+prod, nil)
		return r.status != http.StatusOK
	})
	wantAPIError(t, r, http.StatusForbidden, "InvalidClientTokenId", "store current ones with `brokerd keys add "+dev+"`")
	if p := profileStatus(t, e.status(t), prod); !strings.Contains(p.LastError, "InvalidClientTokenId") {
		t.Errorf("brokerd status for %s: last error %q, want InvalidClientTokenId", prod, p.LastError)
	}

	// Storing the current keys is enough: the next request gets credentials.
	e.addKeys(t, dev, newKeys)
	third := d.credentials(t, prod)
	if third.AccessKeyID == second.AccessKeyID {
		t.Errorf("served %s again after a reload, want new credentials", second.AccessKeyID)
	}
	if p := profileStatus(t, e.status(t), prod); p.LastError != "" || p.Expires == nil {
		t.Errorf("brokerd status for %s after success: last error %q, expires %v; want no error and an expiry", prod, p.LastError, p.Expires)
	}
}

// TestStopOnSIGTERM checks that SIGTERM stops the daemon with exit status 0
// within 5 s and removes what it published, so commands say it is not
// running; a new daemon then starts in the same state directory with a new
// token, and the old token is refused.
func TestStopOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)
	d.credentials(t, prod)

	d.stop(t) // SIGTERM; fails the test unless exit 0 within 5 s
	for _, name := range []string{"endpoint.json", "token", "control.sock"} {
		if _, err := os.Lstat(filepath.Join(e.StateDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still in the state directory after SIGTERM (%v)", name, err)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(d.log()), "stopped") {
		t.Errorf("the log does not end with \"stopped\":\n%s", d.log())
	}
	for _, cmd := range []string{"env", "status"} {
		wantOneLineError(t, e.run(t, "", cmd), "brokerd is not running: start it with `brokerd serve`")
	}

	again := e.startDaemon(t)
	if again.Token == d.Token {
		t.Errorf("the restarted daemon has the old token")
	}
	r := again.get(t, "/v1/credentials/"+prod, func(r *http.Request) { r.Header.Set("Authorization", d.Token) })
	wantAPIError(t, r, http.StatusForbidden, "InvalidToken", "brokerd was restarted or the token file is stale")
	again.credentials(t, prod)
}
