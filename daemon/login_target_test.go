package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/internal/ssofake"
)

// TestRun_LoginTargets checks what LoginNeeds, Login (with a code) and
// Logout make of each kind of name: an sso-session, its profiles, an MFA
// profile and a role of it, an sso-session without a start URL, and names
// that are no profile. Each resolves the name once (resolveLogin); Login, which takes an
// MFA code, answers a name that is neither kind as an MFA profile.
func TestRun_LoginTargets(t *testing.T) {
	w, _ := ssoWorld(t, ssofake.Config{})
	cfg := strings.Replace(ssoTestConfig, "[profile dev]\n", "[profile dev]\nmfa_serial = arn:aws:iam::111111111111:mfa/dev\n", 1) +
		"\n[sso-session broken]\nsso_region = eu-west-1\n"
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := w.runWith(t, func(*Config) {})
	const (
		ssoCode   = "run brokerd login my-sso without --code"
		notFound  = "is not in the AWS config file and has no keys in the keychain"
		noStart   = "[sso-session broken] in " // … needs sso_start_url and sso_region
		nameOne   = "name the profile or sso-session, e.g. brokerd login my-sso"
		nameMFA   = "name the profile, e.g. brokerd login dev"
		badName   = "the profile name \"Bad Name\" holds \" \""
		ssoNeeds  = "sso my-sso"
		mfaNeeds  = "mfa dev"
		noNeeds   = ""
		loggedOut = ""
	)
	tests := []struct {
		name              string
		needs, needsErr   string // needs as "KIND PROFILE"
		login, loginErr   string // the session's profile
		logout, logoutErr string // the profile or session signed out
	}{
		{"my-sso", ssoNeeds, "", "", ssoCode, "my-sso", ""},
		{"sso-dev", ssoNeeds, "", "", ssoCode, "my-sso", ""},
		{"sso-admin", ssoNeeds, "", "", ssoCode, "my-sso", ""},
		{"dev", mfaNeeds, "", "dev", "", "dev", ""},
		{"prod", mfaNeeds, "", "dev", "", "dev", ""},
		{"broken", noNeeds, noStart, "", notFound, loggedOut, noStart},
		{"nosuch", noNeeds, notFound, "", notFound, loggedOut, notFound},
		{"", noNeeds, nameOne, "", nameMFA, loggedOut, nameOne},
		{"Bad Name", noNeeds, badName, "", badName, loggedOut, badName},
	}
	ctx := t.Context()
	for _, tt := range tests {
		needs, err := d.client.LoginNeeds(ctx, tt.name)
		if got := strings.TrimSpace(needs.Kind + " " + needs.Profile); got != tt.needs || !errContains(err, tt.needsErr) {
			t.Errorf("LoginNeeds(%q) = %q, %v; want %q, %q", tt.name, got, err, tt.needs, tt.needsErr)
		}
		res, err := d.client.Login(ctx, control.Login{Profile: tt.name, Code: "123456", DurationSeconds: 3600})
		if res.Profile != tt.login || !errContains(err, tt.loginErr) {
			t.Errorf("Login(%q) = %q, %v; want %q, %q", tt.name, res.Profile, err, tt.login, tt.loginErr)
		}
		src, err := d.client.Logout(ctx, tt.name)
		if src != tt.logout || !errContains(err, tt.logoutErr) {
			t.Errorf("Logout(%q) = %q, %v; want %q, %q", tt.name, src, err, tt.logout, tt.logoutErr)
		}
	}
}

// errContains reports whether err holds want, or is nil when want is "".
func errContains(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
