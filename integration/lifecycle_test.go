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
	e.replaceKeys(t, dev, newKeys)
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

	// Stale keys in the keychain: the refresh that a reload (SIGHUP) starts
	// is refused by STS; brokerd keeps serving the credentials it has, and
	// brokerd status and a forced refresh say to store current keys.
	e.replaceKeys(t, dev, oldKeys)
	d.signal(t, syscall.SIGHUP)
	waitFor(t, "the refresh after SIGHUP to fail with the stale keys", func() bool {
		return strings.Contains(profileStatus(t, e.status(t), prod).LastError, "InvalidClientTokenId")
	})
	if got := d.credentials(t, prod); got != second {
		t.Errorf("after a refused refresh served %s, want the still valid %s", got.AccessKeyID, second.AccessKeyID)
	}
	err := control.NewClient(state.Dir{Path: e.StateDir}).Refresh(context.Background(), prod)
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") || !strings.Contains(err.Error(), "brokerd keys add "+dev+" --replace") {
		t.Errorf("refresh %s with stale keys = %v, want InvalidClientTokenId saying to run brokerd keys add %s --replace", prod, err, dev)
	}

	// Storing the current keys is enough: a refresh gets new credentials.
	e.replaceKeys(t, dev, newKeys)
	if err := control.NewClient(state.Dir{Path: e.StateDir}).Refresh(context.Background(), prod); err != nil {
		t.Fatalf("refresh %s after storing current keys: %v", prod, err)
	}
	if third := d.credentials(t, prod); third == second {
		t.Errorf("served %s again after a refresh, want new credentials", second.AccessKeyID)
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
	wantOneLineError(t, e.run(t, "", "status"), "brokerd is not running: start it with `brokerd serve`")
	// env prints the lines all the same, for shells started now.
	if r := e.run(t, "", "env"); r.code != 0 || !strings.Contains(r.stderr, "brokerd does not answer (it is not running)") {
		t.Errorf("brokerd env after SIGTERM: %v, want exit 0 and a warning", r)
	}

	again := e.startDaemon(t)
	if again.Token == d.Token {
		t.Errorf("the restarted daemon has the old token")
	}
	r := again.get(t, "/v1/credentials/"+prod, func(r *http.Request) { r.Header.Set("Authorization", d.Token) })
	wantAPIError(t, r, http.StatusForbidden, "InvalidToken", "brokerd was restarted or the token file is stale")
	again.credentials(t, prod)
}
