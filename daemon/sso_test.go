package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/internal/federationfake"
	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/state"
)

const ssoTestConfig = `[sso-session my-sso]
sso_start_url = https://my-sso.awsapps.com/start
sso_region = eu-west-1

[profile sso-dev]
sso_session = my-sso
sso_account_id = 111111111111
sso_role_name = Developer

[profile sso-admin]
role_arn = arn:aws:iam::222222222222:role/Admin
source_profile = sso-dev

[profile dev]
region = eu-west-1

[profile prod]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = dev
`

// ssoWorld is a world whose config file has SSO profiles, with a fake IAM
// Identity Center the SDK reaches through its endpoint variables.
func ssoWorld(t *testing.T, cfg ssofake.Config) (*world, *ssofake.Server) {
	t.Helper()
	w := newWorld(t)
	if err := os.WriteFile(w.config, []byte(ssoTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := ssofake.New(cfg)
	t.Cleanup(fake.Close)
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", fake.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSO", fake.URL)
	return w, fake
}

// runWith is world.run with Config changed by edit first.
func (w *world) runWith(t *testing.T, edit func(*Config)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan state.Endpoint, 1)
	done := make(chan error, 1)
	cfg := Config{Listen: "127.0.0.1:0", State: w.state, Keys: w.keys, Log: zap.NewNop(), ConfigPath: w.config,
		Ready: func(ep state.Endpoint) { ready <- ep }}
	edit(&cfg)
	go func() { done <- Run(ctx, cfg) }()
	var ep state.Endpoint
	select {
	case ep = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run() = %v before it served", err)
	}
	token, err := os.ReadFile(w.state.Join(state.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	r := &running{endpoint: ep, token: string(token), client: control.NewClient(w.state)}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			r.client.Close()
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// signIn signs in to session through the control API, approving the code
// on the fake as the person does in the browser.
func signIn(t *testing.T, d *running, fake *ssofake.Server, session string) control.SSOSession {
	t.Helper()
	ctx := t.Context()
	l, err := d.client.SSOLogin(ctx, session)
	if err != nil {
		t.Fatalf("SSOLogin(%s) = %v", session, err)
	}
	if l.UserCode == "" || !strings.Contains(l.VerificationURIComplete, l.UserCode) || l.Session != "my-sso" {
		t.Fatalf("SSOLogin(%s) = %+v, want a code to approve for my-sso", session, l)
	}
	if err := fake.Approve(l.UserCode); err != nil {
		t.Fatal(err)
	}
	s, err := d.client.SSOWait(ctx, l.ID)
	if err != nil || !s.SignedIn || s.Expires == nil {
		t.Fatalf("SSOWait(%s) = %+v, %v, want signed in", l.ID, s, err)
	}
	return s
}

func TestRun_SSOLoginServesEveryProfileOfTheSession(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	core, logs := observer.New(zap.DebugLevel)
	d := w.runWith(t, func(c *Config) { c.Log = zap.New(core) })
	ctx := t.Context()

	if status, code := d.get(t, "sso-dev"); status != 401 || code != "LoginRequired" {
		t.Fatalf("GET sso-dev before login = %d %s, want 401 LoginRequired", status, code)
	}
	for _, name := range []string{"my-sso", "sso-dev", "sso-admin"} {
		needs, err := d.client.LoginNeeds(ctx, name)
		if err != nil || needs.Kind != "sso" || needs.SSOSession != "my-sso" || needs.SSOStartURL != "https://my-sso.awsapps.com/start" {
			t.Errorf("LoginNeeds(%s) = %+v, %v, want an SSO login to my-sso", name, needs, err)
		}
	}
	// prod's keys sign without an MFA device: no SSO login, and no MFA
	// login either, which is refused before a code is asked for.
	if needs, err := d.client.LoginNeeds(ctx, "prod"); err == nil || !strings.Contains(err.Error(), "no mfa_serial") {
		t.Errorf("LoginNeeds(prod) = %+v, %v, want an MFA login refused for want of mfa_serial", needs, err)
	}
	if _, err := d.client.Login(ctx, control.Login{Profile: "sso-dev", Code: "123456", DurationSeconds: 3600}); err == nil || !strings.Contains(err.Error(), "brokerd login my-sso") {
		t.Errorf("Login(sso-dev) with an MFA code = %v, want it refused with the right command", err)
	}
	if _, err := d.client.SSOLogin(ctx, "prod"); err == nil || !strings.Contains(err.Error(), "does not use IAM Identity Center") {
		t.Errorf("SSOLogin(prod) = %v, want it refused", err)
	}

	// A wait that ends before the person approves says so.
	l, err := d.client.SSOLogin(ctx, "sso-admin")
	if err != nil {
		t.Fatal(err)
	}
	if res := rawWait(t, w, l.ID, 1); res.Done {
		t.Fatalf("SSOWait before approval = %+v, want not done", res)
	}
	if err := fake.Approve(l.UserCode); err != nil {
		t.Fatal(err)
	}
	s, err := d.client.SSOWait(ctx, l.ID)
	if err != nil || !s.SignedIn || s.Name != "my-sso" {
		t.Fatalf("SSOWait after approval = %+v, %v, want my-sso signed in", s, err)
	}

	// The held LoginRequired is gone at once; one sign-in serves every
	// profile of the session, the role chained from it too.
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Errorf("GET sso-dev after login = %d %s, want credentials", status, key)
	}
	if status, key := d.get(t, "sso-admin"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Errorf("GET sso-admin after login = %d %s, want credentials", status, key)
	}
	if n := fake.Count("StartDeviceAuthorization"); n != 1 {
		t.Errorf("device authorizations = %d, want 1", n)
	}
	if n := w.sts.count("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls = %d, want 1 (sso-admin from sso-dev's credentials)", n)
	}

	st, err := d.client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.SSOSessions) != 1 {
		t.Fatalf("Status().SSOSessions = %+v, want my-sso", st.SSOSessions)
	}
	ss := st.SSOSessions[0]
	if ss.Name != "my-sso" || !ss.SignedIn || ss.Expires == nil || time.Until(*ss.Expires) < 50*time.Minute ||
		!slices.Equal(ss.Profiles, []string{"sso-admin", "sso-dev"}) || !ss.Refreshable {
		t.Errorf("Status() session = %+v, want my-sso signed in for an hour, used by sso-admin and sso-dev", ss)
	}
	for _, p := range st.Profiles {
		if p.Name == "sso-dev" && p.Kind != "sso" {
			t.Errorf("Status() profile sso-dev kind = %q, want sso", p.Kind)
		}
	}

	// Logging out drops the session's credentials.
	if src, err := d.client.Logout(ctx, "sso-dev"); err != nil || src != "my-sso" {
		t.Errorf("Logout(sso-dev) = %q, %v, want my-sso", src, err)
	}
	if status, code := d.get(t, "sso-dev"); status != 401 || code != "LoginRequired" {
		t.Errorf("GET sso-dev after logout = %d %s, want 401 LoginRequired", status, code)
	}
	if err := d.stop(); err != nil {
		t.Errorf("Run() = %v", err)
	}
	for _, e := range logs.All() {
		text := e.Message + " " + strings.Join(slices.Collect(func(yield func(string) bool) {
			for _, v := range e.ContextMap() {
				if !yield(strings.ToLower(strings.TrimSpace(fmtAny(v)))) {
					return
				}
			}
		}), " ")
		if strings.Contains(text, l.UserCode) || strings.Contains(text, "aoa") || strings.Contains(text, "aor") {
			t.Errorf("log line shows a code or token: %s", text)
		}
	}
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// rawWait is one SSOWait call of the control API, as the client makes
// them in its loop.
func rawWait(t *testing.T, w *world, id string, seconds int) control.SSOWaitResult {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", w.state.Join(state.SocketFile))
	}}}
	defer hc.CloseIdleConnections()
	body, _ := json.Marshal(control.SSOWait{ID: id, Seconds: seconds})
	resp, err := hc.Post("http://brokerd/v1/sso/wait", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res control.SSOWaitResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /v1/sso/wait = %d, %v", resp.StatusCode, err)
	}
	return res
}

func TestRun_SSOSignInsEnd(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	d := w.runWith(t, func(*Config) {})
	ctx := t.Context()

	// A newer login for the session replaces the one under way.
	first, err := d.client.SSOLogin(ctx, "my-sso")
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.client.SSOLogin(ctx, "sso-dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.SSOWait(ctx, first.ID); !isCode(err, 503, "Cancelled") || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("SSOWait(first) after a second login = %v, want it replaced", err)
	}
	// A refused sign-in says so.
	if err := fake.Deny(second.UserCode); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.SSOWait(ctx, second.ID); !isCode(err, 403, "SignInDenied") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("SSOWait(second) after a denial = %v, want it refused", err)
	}
	if _, err := d.client.SSOWait(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "run brokerd login again") {
		t.Errorf("SSOWait(nope) = %v, want no such sign-in", err)
	}

	// A sign-in under way ends with the daemon, and so does its waiter.
	third, err := d.client.SSOLogin(ctx, "my-sso")
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		c := control.NewClient(w.state)
		defer c.Close()
		_, err := c.SSOWait(ctx, third.ID)
		waited <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := d.stop(); err != nil {
		t.Errorf("Run() with a sign-in under way = %v, want nil", err)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Error("SSOWait across a stop = nil, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SSOWait still waits after the daemon stopped")
	}
}

func TestRun_Console(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	// A GovCloud role whose profiles set no region.
	w.keys.keys["gov-user"] = keychain.Keys{AccessKeyID: "AKIAGGGGGGGGGGGGGGGG", SecretAccessKey: strings.Repeat("g", 40)}
	gov := ssoTestConfig + "[profile gov]\nrole_arn = arn:aws-us-gov:iam::999999999999:role/UpdateApp\nsource_profile = gov-user\n"
	if err := os.WriteFile(w.config, []byte(gov), 0o600); err != nil {
		t.Fatal(err)
	}
	fed := federationfake.New(federationfake.Config{})
	t.Cleanup(fed.Close)
	core, logs := observer.New(zap.DebugLevel)
	d := w.runWith(t, func(c *Config) { c.FederationURL = fed.URL; c.Log = zap.New(core) })
	ctx := t.Context()
	signIn(t, d, fake, "my-sso")

	tests := []struct {
		profile     string
		federated   bool
		region      string
		destination string
		wantDest    string
	}{
		// A role that sets no region opens in its source profile's, the
		// region brokerd gives its SDKs (and whose partition signs in).
		{profile: "prod", wantDest: "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"},
		// Its partition's console and sign-in, not the commercial ones.
		{profile: "gov", wantDest: "https://console.amazonaws-us-gov.com/"},
		{profile: "sso-dev", region: "us-west-2", destination: "s3", wantDest: "https://us-west-2.console.aws.amazon.com/s3?region=us-west-2"},
		// An IAM user: federated with its long-term keys, in its region.
		{profile: "dev", federated: true, destination: "ec2/home", wantDest: "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1"},
	}
	for i, tt := range tests {
		before, sessions := w.sts.count("GetFederationToken"), w.sts.count("GetSessionToken")
		u, err := d.client.Console(ctx, control.Console{Profile: tt.profile, Region: tt.region, Destination: tt.destination})
		if err != nil {
			t.Fatalf("Console(%s) = %v", tt.profile, err)
		}
		parsed, err := url.Parse(u.URL)
		if err != nil || !strings.HasPrefix(u.URL, fed.URL+"?") {
			t.Fatalf("Console(%s) = %q, want a URL of the federation endpoint", tt.profile, u.URL)
		}
		q := parsed.Query()
		if q.Get("Action") != "login" || q.Get("SigninToken") == "" || q.Get("Destination") != tt.wantDest {
			t.Errorf("Console(%s) query = %v, want a login to %s with a sign-in token", tt.profile, q, tt.wantDest)
		}
		reqs := fed.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("federation requests = %d, want %d", len(reqs), i+1)
		}
		got := reqs[i].Credentials
		if tt.federated {
			// Never the GetSessionToken credentials served for it.
			if n, m := w.sts.count("GetFederationToken")-before, w.sts.count("GetSessionToken")-sessions; n != 1 || m != 0 || got.SessionToken == "" {
				t.Errorf("Console(%s) made %d GetFederationToken and %d GetSessionToken calls, want 1 and 0", tt.profile, n, m)
			}
			continue
		}
		if _, served := d.get(t, tt.profile); got.AccessKeyID != served {
			t.Errorf("Console(%s) signed in with %s, want the served credentials %s", tt.profile, got.AccessKeyID, served)
		}
	}
	if _, err := d.client.Console(ctx, control.Console{Profile: "prod", DurationSeconds: 60}); !isCode(err, 400, "InvalidInput") || !strings.Contains(err.Error(), "15m") {
		t.Errorf("Console(prod) for a minute = %v, want it refused", err)
	}
	d.stop()
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "SigninToken") || strings.Contains(e.Message, "SigninToken") {
				t.Errorf("log line shows the sign-in URL: %s %v", e.Message, e.ContextMap())
			}
		}
	}
}

// isCode reports whether err is the daemon's answer status and code.
func isCode(err error, status int, code string) bool {
	var e *control.Error
	return errors.As(err, &e) && e.Status == status && e.Code == code
}

// Once the portal has refused both the access token and the refresh token
// (an administrator ended the session), status says the session is not
// signed in, as its profiles' requests say; and a sign-in lists the
// profiles it serves.
func TestRun_SSORevokedSessionIsSignedOut(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	d := w.runWith(t, func(*Config) {})
	if s := signIn(t, d, fake, "my-sso"); !slices.Equal(s.Profiles, []string{"sso-admin", "sso-dev"}) {
		t.Errorf("the sign-in's session lists profiles %q, want sso-admin, sso-dev", s.Profiles)
	}
	fake.RevokeAccessTokens()
	fake.RevokeRefreshTokens()
	if status, code := d.get(t, "sso-dev"); status != 401 || code != "LoginRequired" {
		t.Fatalf("GET sso-dev after the session was revoked = %d %s, want 401 LoginRequired", status, code)
	}
	st, err := d.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range st.SSOSessions {
		if ss.Name == "my-sso" && (ss.SignedIn || ss.Refreshable) {
			t.Errorf("Status() says my-sso is signed in (%v) and refreshable (%v) while its profiles answer LoginRequired", ss.SignedIn, ss.Refreshable)
		}
	}
}

// A sign-in whose `brokerd login` was interrupted while it waited ends: a
// later approval of its code signs nobody in.
func TestRun_SSOSignInEndsWithItsWaiter(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	d := w.runWith(t, func(*Config) {})
	l, err := d.client.SSOLogin(t.Context(), "my-sso")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond) // Ctrl-C
	defer cancel()
	if _, err := d.client.SSOWait(ctx, l.ID); err == nil {
		t.Fatal("SSOWait() with its context ended = nil error, want one")
	}
	if err := fake.Approve(l.UserCode); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a poll or two of the device flow, were it still going
	st, err := d.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range st.SSOSessions {
		if ss.Name == "my-sso" && ss.SignedIn {
			t.Error("my-sso is signed in by a sign-in whose brokerd login was interrupted")
		}
	}
}

// The tokens of an sso-session that the config file no longer names
// (renamed) can still be removed with logout, and only once.
func TestRun_SSOLogoutOfRenamedSession(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	d := w.runWith(t, func(*Config) {})
	signIn(t, d, fake, "my-sso")
	os.WriteFile(w.config, []byte(strings.ReplaceAll(ssoTestConfig, "my-sso", "corp")), 0o600)
	ctx := t.Context()
	if src, err := d.client.Logout(ctx, "my-sso"); err != nil || src != "my-sso" {
		t.Errorf("Logout(my-sso) after the session was renamed = %q, %v; want its tokens removed", src, err)
	}
	if _, err := d.client.Logout(ctx, "my-sso"); err == nil || !strings.Contains(err.Error(), "not in the AWS config file") {
		t.Errorf("a second Logout(my-sso) = %v, want the name not found", err)
	}
}

// An MFA code (brokerd login --code) for an sso-session, or a profile of
// one, is refused with what to run instead; an sso-session's name was
// taken for a profile without keys, with advice to add one.
func TestRun_SSOLoginRefusesAnMFACode(t *testing.T) {
	w, _ := ssoWorld(t, ssofake.Config{})
	d := w.runWith(t, func(*Config) {})
	for _, name := range []string{"my-sso", "sso-dev", "sso-admin"} {
		_, err := d.client.Login(t.Context(), control.Login{Profile: name, Code: "123456", DurationSeconds: 3600})
		if !isCode(err, 400, "InvalidInput") || !strings.Contains(err.Error(), "IAM Identity Center") ||
			!strings.HasSuffix(err.Error(), "run brokerd login my-sso without --code") {
			t.Errorf("Login(%s, a code) = %v, want it refused: run brokerd login my-sso without --code", name, err)
		}
	}
}

// Status says what an sso-session without a start URL needs, rather than
// to run brokerd login, which refuses it for that reason.
func TestRun_SSOStatusOfAnIncompleteSession(t *testing.T) {
	w, _ := ssoWorld(t, ssofake.Config{})
	if err := os.WriteFile(w.config, []byte(ssoTestConfig+"\n[sso-session broken]\nsso_region = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := w.runWith(t, func(*Config) {})
	st, err := d.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got *control.SSOSession
	for i, ss := range st.SSOSessions {
		if ss.Name == "broken" {
			got = &st.SSOSessions[i]
		}
	}
	if got == nil || got.SignedIn || !strings.Contains(got.Error, "needs sso_start_url and sso_region: add them") {
		t.Fatalf("Status() lists broken as %+v, want what it needs", got)
	}
	if _, err := d.client.SSOLogin(t.Context(), "broken"); err == nil || !strings.Contains(err.Error(), got.Error) {
		t.Errorf("SSOLogin(broken) = %v, want the error status shows", err)
	}
}

// A logout while IAM Identity Center cannot be reached removes the tokens
// and says how to end the sign-in at the portal, not to try again, which
// would then say it signed out.
func TestRun_SSOLogoutWithoutThePortal(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{})
	d := w.runWith(t, func(*Config) {})
	signIn(t, d, fake, "my-sso")
	fake.Close()
	_, err := d.client.Logout(t.Context(), "my-sso")
	if !isCode(err, 503, "SSOUnavailable") || strings.Contains(err.Error(), "try again") ||
		!strings.HasSuffix(err.Error(), "sign out of the AWS access portal at https://my-sso.awsapps.com/start") {
		t.Errorf("Logout(my-sso) with IAM Identity Center unreachable = %v, want the tokens removed and how to sign out at the portal", err)
	}
	if status, code := d.get(t, "sso-dev"); status != 401 || code != "LoginRequired" {
		t.Errorf("GET sso-dev after the logout = %d %s, want 401 LoginRequired", status, code)
	}
}
