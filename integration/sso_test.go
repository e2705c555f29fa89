//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/keychain"
)

// ssoConfig has an IAM Identity Center session, two profiles of it and a
// role chained from one of them.
const ssoConfig = `
[sso-session {my-sso}]
sso_start_url = https://my-sso.awsapps.com/start
sso_region = us-east-1

[profile {sso-dev}]
sso_session = {my-sso}
sso_account_id = 111111111111
sso_role_name = Developer

[profile {sso-ops}]
sso_session = {my-sso}
sso_account_id = 111111111111
sso_role_name = Operator

[profile {sso-admin}]
role_arn = arn:aws:iam::999999999999:role/Admin
source_profile = {sso-dev}
`

const (
	// The portal's credentials are moto's AssumeRole of the permission
	// set's role, so that GetCallerIdentity names it.
	assumedDeveloper = "arn:aws:sts::111111111111:assumed-role/Developer/alice@example.com"
	assumedOperator  = "arn:aws:sts::111111111111:assumed-role/Operator/alice@example.com"
	assumedAdmin     = "arn:aws:sts::999999999999:assumed-role/Admin/"
)

// newSSOEnv returns an Env whose daemons reach a fake IAM Identity Center
// (through AWS_ENDPOINT_URL_SSO_OIDC and AWS_ENDPOINT_URL_SSO) that mints
// role credentials with moto's AssumeRole, and the fake. The session's
// keychain item is removed when the test ends.
func newSSOEnv(t *testing.T, cfg ssofake.Config) (*Env, *ssofake.Server) {
	t.Helper()
	e := newEnv(t)
	moto := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(openSTS.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIA2BROKERDSSOFAKE0", SecretAccessKey: "brokerdSsoFakeSecretKey0123456789abcdefg"}, nil
		})})
	cfg.Mint = ssofake.AssumeRole(moto, "alice@example.com")
	fake := ssofake.New(cfg)
	t.Cleanup(fake.Close)
	e.setenv("AWS_ENDPOINT_URL_SSO_OIDC", fake.URL)
	e.setenv("AWS_ENDPOINT_URL_SSO", fake.URL)
	e.writeConfig(t, ssoConfig)
	t.Cleanup(func() { keychain.New(keychain.System{}).SSO().Delete(context.Background(), e.profile("my-sso")) })
	return e, fake
}

var userCodeLine = regexp.MustCompile(`open (\S+)\n  and check that it shows the code ([A-Z]{4}-[A-Z]{4})`)

// ssoLogin runs `brokerd login NAME`, approves the code it prints on the
// fake as the person does in the browser, and returns what it printed.
func (e *Env) ssoLogin(t testing.TB, fake *ssofake.Server, name string) string {
	t.Helper()
	return e.ssoLoginAs(t, fake, name, e.profile("my-sso"))
}

// ssoLoginAs is ssoLogin for a login that signs in to session, what
// `brokerd login` names: an sso-session, or a legacy profile.
func (e *Env) ssoLoginAs(t testing.TB, fake *ssofake.Server, name, session string) string {
	t.Helper()
	cmd := exec.Command(brokerdBin, "login", name)
	cmd.Env = e.environ(nil)
	cmd.Dir = e.Dir
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var m []string
	waitFor(t, "brokerd login to print a code", func() bool {
		m = userCodeLine.FindStringSubmatch(stdout.String())
		return m != nil || len(exited) > 0
	})
	if m == nil {
		t.Fatalf("brokerd login %s printed no code:\n%s%s", name, stdout.String(), stderr.String())
	}
	if !strings.HasPrefix(m[1], fake.URL+"/device?user_code=") {
		t.Errorf("brokerd login %s asks to open %s, want the fake's verification URI", name, m[1])
	}
	if err := fake.Approve(m[2]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("brokerd login %s: %v\n%s%s", name, err, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("brokerd login %s did not end within 30 s of the approval:\n%s%s", name, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "signed in to IAM Identity Center session "+session) {
		t.Errorf("brokerd login %s printed %q, want it to say it signed in", name, stdout.String())
	}
	return stdout.String()
}

// ssoToken returns the access and refresh tokens and the client secret the
// keychain holds for session name.
func ssoToken(t testing.TB, name string) map[string]string {
	t.Helper()
	blob, err := keychain.New(keychain.System{}).SSO().Get(context.Background(), name)
	if err != nil || blob == nil {
		t.Fatalf("keychain item %s/%s = %v, want the session's tokens", keychain.SSOService, name, err)
	}
	var r map[string]any
	if err := json.Unmarshal(blob, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range []string{"accessToken", "refreshToken", "clientSecret"} {
		if v, _ := r[k].(string); v != "" {
			out[k] = v
		}
	}
	return out
}

// getCredentials gets a profile's credentials, asking again while the
// daemon answers 503 (a first fetch may outlast a request's patience).
func (d *Daemon) getCredentials(t testing.TB, profile string) response {
	t.Helper()
	var r response
	waitFor(t, "an answer other than 503 for "+profile, func() bool {
		r = d.get(t, "/v1/credentials/"+profile, nil)
		return r.status != http.StatusServiceUnavailable
	})
	return r
}

// TestSSOLoginServesTheSession follows issue 13 with the aws CLI and the
// Go SDK: an SSO profile answers LoginRequired until `brokerd login
// my-sso`; the login (the fake's device flow, approved by the test)
// serves the session's profiles and a role chained from one; the tokens
// live in the keychain, not in files, logs or status; a restarted daemon
// needs no new login. Not parallel: the Go SDK reads this process's
// environment.
func TestSSOLoginServesTheSession(t *testing.T) {
	e, fake := newSSOEnv(t, ssofake.Config{})
	mySSO, dev, ops, admin := e.profile("my-sso"), e.profile("sso-dev"), e.profile("sso-ops"), e.profile("sso-admin")
	d := e.startDaemon(t, "--log-level", "debug", "--default-profile", dev)
	outputs := map[string]string{}

	wantAPIError(t, d.getCredentials(t, dev), http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+mySSO)
	wantAPIError(t, d.getCredentials(t, admin), http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+mySSO)
	if st := e.status(t); len(st.SSOSessions) != 1 || st.SSOSessions[0].Name != mySSO || st.SSOSessions[0].SignedIn {
		t.Errorf("brokerd status before login lists %+v, want %s not signed in", st.SSOSessions, mySSO)
	}

	outputs["brokerd login"] = e.ssoLogin(t, fake, mySSO)
	t.Run("aws CLI as the SSO role", func(t *testing.T) {
		if arn := e.callerARN(t, parseExports(t, e.mustRun(t, "", "env", dev))); arn != assumedDeveloper {
			t.Errorf("aws sts get-caller-identity for %s: Arn = %q, want %s", dev, arn, assumedDeveloper)
		}
		if arn := e.callerARN(t, parseExports(t, e.mustRun(t, "", "env", ops))); arn != assumedOperator {
			t.Errorf("aws sts get-caller-identity for %s: Arn = %q, want %s", ops, arn, assumedOperator)
		}
	})
	t.Run("aws CLI as a role chained from it", func(t *testing.T) {
		if arn := e.callerARN(t, parseExports(t, e.mustRun(t, "", "env", admin))); !strings.HasPrefix(arn, assumedAdmin) {
			t.Errorf("aws sts get-caller-identity for %s: Arn = %q, want %s…", admin, arn, assumedAdmin)
		}
	})
	t.Run("Go SDK", func(t *testing.T) {
		e.setProcessEnv(t, parseExports(t, e.mustRun(t, "", "env", dev)))
		ctx := context.Background()
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil || creds.Source != endpointcreds.ProviderName {
			t.Fatalf("Retrieve() = %v from %q, want the endpoint's credentials", err, creds.Source)
		}
		out, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(openSTS.URL) }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(out.Arn) != assumedDeveloper {
			t.Errorf("GetCallerIdentity() = %v, %v, want %s", out, err, assumedDeveloper)
		}
	})
	if n := fake.Count("StartDeviceAuthorization"); n != 1 {
		t.Errorf("%d device authorizations, want 1: one login serves every profile of the session", n)
	}
	st := e.status(t)
	if len(st.SSOSessions) != 1 || !st.SSOSessions[0].SignedIn || st.SSOSessions[0].Expires == nil ||
		!slices.Equal(st.SSOSessions[0].Profiles, []string{admin, dev, ops}) {
		t.Errorf("brokerd status lists %+v, want %s signed in for %s, %s and %s", st.SSOSessions, mySSO, admin, dev, ops)
	}
	outputs["brokerd status"] = e.mustRun(t, "", "status")
	if !strings.Contains(outputs["brokerd status"], "SSO SESSION") || !strings.Contains(outputs["brokerd status"], mySSO) {
		t.Errorf("brokerd status does not show the SSO session:\n%s", outputs["brokerd status"])
	}
	outputs["brokerd status --json"] = e.mustRun(t, "", "status", "--json")
	devCreds := d.credentials(t, dev)

	// A restart reads the session's token from the keychain: no new login.
	d.stop(t)
	outputs["log of the first daemon"] = d.log()
	d2 := e.startDaemon(t, "--default-profile", dev)
	if arn := e.callerARN(t, parseExports(t, e.mustRun(t, "", "env", dev))); arn != assumedDeveloper {
		t.Errorf("after a restart, aws sts get-caller-identity for %s: Arn = %q, want %s", dev, arn, assumedDeveloper)
	}
	if n := fake.Count("StartDeviceAuthorization"); n != 1 {
		t.Errorf("%d device authorizations after a restart, want still 1", n)
	}
	outputs["brokerd status after restart"] = e.mustRun(t, "", "status")

	// The tokens are in the keychain and nowhere else.
	tokens := ssoToken(t, mySSO)
	if tokens["accessToken"] == "" || tokens["refreshToken"] == "" {
		t.Errorf("the keychain holds %d of the session's tokens, want its access and refresh tokens", len(tokens))
	}
	for name, text := range stateFiles(t, e.StateDir) {
		outputs["state file "+name] = text
	}
	out := e.mustRun(t, "", "logout", mySSO)
	if !strings.Contains(out, "signed out of IAM Identity Center session "+mySSO) {
		t.Errorf("brokerd logout %s printed %q", mySSO, out)
	}
	wantAPIError(t, d2.getCredentials(t, dev), http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+mySSO)
	if blob, err := keychain.New(keychain.System{}).SSO().Get(context.Background(), mySSO); blob != nil || err != nil {
		t.Errorf("keychain item of %s after logout = %d bytes, %v, want none", mySSO, len(blob), err)
	}
	d2.stop(t)
	outputs["log of the second daemon"] = d2.log()

	secrets := map[string]string{
		"access token":           tokens["accessToken"],
		"refresh token":          tokens["refreshToken"],
		"client secret":          tokens["clientSecret"],
		"role secret access key": devCreds.SecretAccessKey,
		"role session token":     devCreds.Token,
	}
	for where, text := range outputs {
		for what, secret := range secrets {
			if secret == "" {
				continue
			}
			if part, ok := leaked(text, secret); ok {
				t.Errorf("%s contains the %s (%q):\n%s", where, what, part, text)
			}
		}
	}
	if log := outputs["log of the first daemon"]; !strings.Contains(log, "sso signed in") {
		t.Errorf("the daemon's log does not record the sign-in:\n%s", log)
	}
}

// TestSSOTokenRefreshAndExpiry uses access tokens that last 2 seconds: an
// expired one is refreshed with the refresh token without a person; once
// the session ends at the identity provider (refresh tokens revoked), a
// profile answers 401 LoginRequired at once, until a new login.
func TestSSOTokenRefreshAndExpiry(t *testing.T) {
	t.Parallel()
	e, fake := newSSOEnv(t, ssofake.Config{TokenLifetime: 2 * time.Second})
	mySSO, dev, ops, admin := e.profile("my-sso"), e.profile("sso-dev"), e.profile("sso-ops"), e.profile("sso-admin")
	d := e.startDaemon(t, "--default-profile", dev)
	e.ssoLogin(t, fake, mySSO)
	refreshes := func() int {
		n := 0
		for _, c := range fake.Calls() {
			if c.Op == "CreateToken" && c.GrantType == "refresh_token" {
				n++
			}
		}
		return n
	}

	// The token from the login has expired: the first fetch refreshes it.
	time.Sleep(3 * time.Second)
	before := refreshes()
	if _, err := decodeCredentials(d.getCredentials(t, dev)); err != nil {
		t.Fatalf("GET %s with an expired access token: %v", dev, err)
	}
	if refreshes() <= before {
		t.Errorf("no CreateToken with the refresh token after the access token expired; calls: %+v", fake.Calls())
	}
	if n := fake.Count("StartDeviceAuthorization"); n != 1 {
		t.Errorf("%d device authorizations, want 1: the refresh needs no person", n)
	}

	// The session ends: its refresh token no longer works.
	fake.RevokeRefreshTokens()
	time.Sleep(3 * time.Second)
	start := time.Now()
	r := d.get(t, "/v1/credentials/"+ops, nil)
	wantAPIError(t, r, http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+mySSO)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the LoginRequired answer took %v, want it at once", took)
	}
	// Held: the next requests get it at once, without the portal.
	calls := len(fake.Calls())
	wantAPIError(t, d.get(t, "/v1/credentials/"+ops, nil), http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+mySSO)
	if n := len(fake.Calls()); n != calls {
		t.Errorf("a second request while LoginRequired made %d calls to IAM Identity Center, want none", n-calls)
	}
	if st := e.status(t); len(st.SSOSessions) != 1 || st.SSOSessions[0].SignedIn {
		t.Errorf("brokerd status after the session ended lists %+v, want %s not signed in", st.SSOSessions, mySSO)
	}
	if log := d.log(); !strings.Contains(log, "sso token refreshed") {
		t.Errorf("the daemon's log does not record the refresh:\n%s", log)
	}

	// A new login clears the held error at once.
	e.ssoLogin(t, fake, ops)
	if _, err := decodeCredentials(d.getCredentials(t, ops)); err != nil {
		t.Errorf("GET %s after a new login: %v", ops, err)
	}
	if arn := e.callerARN(t, parseExports(t, e.mustRun(t, "", "env", admin))); !strings.HasPrefix(arn, assumedAdmin) {
		t.Errorf("aws sts get-caller-identity for %s: Arn = %q, want %s…", admin, arn, assumedAdmin)
	}
}

// TestSSOLoginErrors: a login for a profile of another kind, or a session
// that is not in the config file, says what to do in one line.
func TestSSOLoginErrors(t *testing.T) {
	t.Parallel()
	e, _ := newSSOEnv(t, ssofake.Config{})
	e.writeConfig(t, ssoConfig+"\n[sso-session {broken}]\nsso_region = us-east-1\n[profile {bad}]\nsso_session = {broken}\nsso_account_id = 1\nsso_role_name = R\n")
	d := e.startDaemon(t, "--default-profile", e.profile("sso-dev"))
	wantOneLineError(t, e.run(t, "", "login", e.profile("broken")), "needs sso_start_url and sso_region")
	wantAPIError(t, d.getCredentials(t, e.profile("bad")), http.StatusBadRequest, "InvalidConfig", "sso_start_url")
	wantOneLineError(t, e.run(t, "", "login", e.profile("sso-dev"), "--duration", "1h"), "--duration is for MFA sessions")
}

// legacyConfig has a legacy IAM Identity Center profile: sso_start_url on
// the profile, no sso-session. Its tokens are kept under the start URL.
const legacyConfig = `
[profile {legacy}]
sso_start_url = https://{legacy}.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111111111111
sso_role_name = Developer
`

// TestSSOLegacyRemovedLogout checks that the tokens of a legacy profile
// removed from the config file can still be removed: `brokerd logout
// PROFILE` says they are kept under the start URL, and `brokerd logout
// START-URL` removes them from the keychain.
func TestSSOLegacyRemovedLogout(t *testing.T) {
	t.Parallel()
	e, fake := newSSOEnv(t, ssofake.Config{})
	legacy := e.profile("legacy")
	startURL := "https://" + legacy + ".awsapps.com/start"
	tokens := keychain.New(keychain.System{}).SSO()
	t.Cleanup(func() { tokens.Delete(context.Background(), startURL) })
	e.writeConfig(t, legacyConfig)
	d := e.startDaemon(t)
	e.ssoLoginAs(t, fake, legacy, legacy)
	if r := d.getCredentials(t, legacy); r.status != http.StatusOK {
		t.Fatalf("credentials of %s after login: %v, want 200", legacy, r)
	}
	if blob, err := tokens.Get(context.Background(), startURL); blob == nil || err != nil {
		t.Fatalf("keychain item %s/%s after login = %v, want the tokens", keychain.SSOService, startURL, err)
	}

	e.writeConfig(t, ssoConfig) // the legacy profile is gone
	r := e.run(t, "", "logout", legacy)
	if r.code == 0 || !strings.Contains(r.stderr, "brokerd logout https://") || !strings.Contains(r.stderr, "sso_start_url") {
		t.Errorf("brokerd logout %s after its profile was removed: %v\nwant a failure that says to name its start URL", legacy, r)
	}
	out := e.mustRun(t, "", "logout", startURL)
	if !strings.Contains(out, "removed the IAM Identity Center tokens of start URL "+startURL) {
		t.Errorf("brokerd logout %s printed %q, want it to say the tokens were removed", startURL, out)
	}
	if blob, err := tokens.Get(context.Background(), startURL); blob != nil || err != nil {
		t.Errorf("keychain item %s/%s after logout = %d bytes, %v, want none", keychain.SSOService, startURL, len(blob), err)
	}
	if r := e.run(t, "", "logout", startURL); r.code == 0 || !strings.Contains(r.stderr, "no IAM Identity Center tokens for start URL "+startURL) {
		t.Errorf("brokerd logout %s again: %v, want a failure that says there are none", startURL, r)
	}
	d.stop(t)
}
