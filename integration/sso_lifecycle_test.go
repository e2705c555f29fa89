//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/internal/ssofake"
)

// TestSSOLifecycleRealSizes signs in, refreshes and restarts with a client
// secret (about 1,900 characters) and tokens (about 1,100) as long as IAM
// Identity Center's, through the real keychain: over one macOS Keychain
// item's limit, so there the record is stored in parts. The restarted
// daemon refreshes with the refresh token it reads back; the tokens appear
// in no log, status or state file.
func TestSSOLifecycleRealSizes(t *testing.T) {
	t.Parallel()
	// Tokens of 2 s, under the 5 minutes before expiry at which brokerd
	// refreshes: each use refreshes.
	e, fake := newSSOEnv(t, ssofake.Config{RealSizes: true, TokenLifetime: 2 * time.Second})
	mySSO, dev := e.profile("my-sso"), e.profile("sso-dev")
	refreshes := func() int {
		n := 0
		for _, c := range fake.Calls() {
			if c.Op == "CreateToken" && c.GrantType == "refresh_token" {
				n++
			}
		}
		return n
	}
	outputs := map[string]string{}
	seen := map[string]string{} // every token and secret the keychain held, by a name

	d := e.startDaemon(t, "--log-level", "debug", "--default-profile", dev)
	outputs["brokerd login"] = e.ssoLogin(t, fake, mySSO)
	first := ssoToken(t, mySSO)
	for k, v := range first {
		seen["first "+k] = v
	}
	for k, least := range map[string]int{"clientSecret": 1850, "accessToken": 1050, "refreshToken": 1050} {
		if n := len(first[k]); n < least {
			t.Errorf("the keychain's %s has %d characters, want a real one's (%d or more)", k, n, least)
		}
	}
	before := refreshes()
	devCreds := d.credentials(t, dev)
	if refreshes() <= before {
		t.Errorf("no refresh for the first credentials of %s; calls: %+v", dev, fake.Calls())
	}
	refreshed := ssoToken(t, mySSO)
	if refreshed["refreshToken"] == first["refreshToken"] {
		t.Error("the keychain holds the refresh token of the sign-in, spent by the refresh, want the new one")
	}
	for k, v := range refreshed {
		seen["refreshed "+k] = v
	}
	outputs["brokerd status"] = e.mustRun(t, "", "status")
	outputs["brokerd status --json"] = e.mustRun(t, "", "status", "--json")
	d.stop(t)
	outputs["log of the first daemon"] = d.log()

	// A restart reads the record back, and refreshes with its refresh token.
	d2 := e.startDaemon(t, "--log-level", "debug", "--default-profile", dev)
	before = refreshes()
	if _, err := decodeCredentials(d2.getCredentials(t, dev)); err != nil {
		t.Fatalf("GET %s after a restart: %v", dev, err)
	}
	if refreshes() <= before {
		t.Errorf("no refresh after the restart; calls: %+v", fake.Calls())
	}
	if n := fake.Count("StartDeviceAuthorization"); n != 1 {
		t.Errorf("%d device authorizations, want 1: the restart needs no new sign-in", n)
	}
	st := e.status(t)
	if len(st.SSOSessions) != 1 || !st.SSOSessions[0].SignedIn || !st.SSOSessions[0].Refreshable || st.SSOSessions[0].Error != "" {
		t.Errorf("brokerd status after a restart lists %+v, want %s signed in and refreshable", st.SSOSessions, mySSO)
	}
	outputs["brokerd status after restart"] = e.mustRun(t, "", "status")
	for k, v := range ssoToken(t, mySSO) {
		seen["last "+k] = v
	}
	for name, text := range stateFiles(t, e.StateDir) {
		outputs["state file "+name] = text
	}
	d2.stop(t)
	outputs["log of the second daemon"] = d2.log()
	if !strings.Contains(outputs["log of the second daemon"], "sso token refreshed") {
		t.Errorf("the second daemon's log does not record the refresh:\n%s", outputs["log of the second daemon"])
	}

	seen["role secret access key"], seen["role session token"] = devCreds.SecretAccessKey, devCreds.Token
	for where, text := range outputs {
		for what, secret := range seen {
			if secret == "" {
				continue
			}
			if part, ok := leaked(text, secret); ok {
				t.Errorf("%s contains the %s (%q):\n%s", where, what, part, text)
			}
		}
	}
}
