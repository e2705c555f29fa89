//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/keychain"
)

// mfaConfig is the README's morning-routine config: dev's keys sign with
// an MFA device, and two roles use dev as their source.
const mfaConfig = `
[profile {dev}]
region = us-east-1
mfa_serial = arn:aws:iam::111111111111:mfa/alice

[profile {prod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}

[profile {ro}]
role_arn = arn:aws:iam::999999999999:role/ReadOnly
source_profile = {dev}
`

const (
	aliceMFA        = "arn:aws:iam::111111111111:mfa/alice"
	assumedReadOnly = "arn:aws:sts::999999999999:assumed-role/ReadOnly/"
	// moto accepts any MFA code; brokerd insists on six digits.
	mfaTestCode = "123456"
)

// loginLine is what `brokerd login` prints on success: the session's
// end, its length, and when the next login is due (SessionMinLeft before
// the end, when the daemon stops using it).
var loginLine = regexp.MustCompile(`^MFA session of profile (\S+) open until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \(([0-9hms]+)\); next login due (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\n$`)

// TestMFALoginOnceADay follows the issue "One MFA login a day" against moto
// behind the counting proxy: a role that needs MFA answers LoginRequired at
// once until `brokerd login`; one GetSessionToken (with the device and the
// code, signed by the long-term key) then serves both roles, whose
// AssumeRole calls are signed by the session's key; status shows the
// session; a restarted daemon reads it from the keychain without a new
// GetSessionToken; logout drops it and what was derived from it, in memory
// and keychain; and no secret reaches a log, status or a state file.
func TestMFALoginOnceADay(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, mfaConfig)
	dev, prod, ro := e.profile("dev"), e.profile("prod"), e.profile("ro")
	keys := randomKeys(t)
	e.addKeys(t, dev, keys)
	ctx := context.Background()
	kc := keychain.New(keychain.System{})
	t.Cleanup(func() { kc.DeleteSession(ctx, dev) }) // should the test stop before logout
	loginHint := "run: brokerd login " + dev
	outputs := map[string]string{} // everything a secret must not reach, by where it came from

	d := e.startDaemon(t, "--log-level", "debug")
	prodEnv := parseExports(t, e.mustRun(t, "", "env", prod))
	roEnv := parseExports(t, e.mustRun(t, "", "env", ro))

	// 1. Before login: LoginRequired at once, without calling STS.
	for _, p := range []string{prod, ro, dev} {
		r := d.get(t, "/v1/credentials/"+p, nil)
		wantAPIError(t, r, http.StatusUnauthorized, "LoginRequired", loginHint)
		if msg := apiMessage(t, r); !strings.HasSuffix(msg, loginHint) {
			t.Errorf("GET /v1/credentials/%s: message %q, want it to end with %q", p, msg, loginHint)
		}
	}
	cli := e.exec(t, prodEnv, "", "aws", "sts", "get-caller-identity", "--output", "json")
	if cli.code == 0 || !strings.Contains(cli.stderr, loginHint) {
		t.Errorf("aws sts get-caller-identity before login: %v\nwant a failure that shows %q", cli, loginHint)
	}
	if n := proxy.count(); n != 0 {
		t.Fatalf("requests before login made %d STS calls, want none", n)
	}
	if st := e.status(t); findSession(st, dev) != nil {
		t.Errorf("brokerd status lists an MFA session of %s before login: %+v", dev, st.Sessions)
	}

	// 2. Login, then both roles work through the aws CLI on one session.
	login := e.run(t, "", "login", dev, "--code", mfaTestCode)
	outputs["brokerd login"] = login.stdout + login.stderr
	m := loginLine.FindStringSubmatch(login.stdout)
	if login.code != 0 || m == nil || login.stderr != "" {
		t.Fatalf("brokerd login %s --code %s: %v\nwant exit 0 and one line matching %s", dev, mfaTestCode, login, loginLine)
	}
	if m[1] != dev {
		t.Errorf("brokerd login %s names profile %s", dev, m[1])
	}
	expiry := m[2]
	if exp, err := time.ParseInLocation(time.DateTime, expiry, time.Local); err != nil || time.Until(exp) < 11*time.Hour || time.Until(exp) > 13*time.Hour {
		t.Errorf("brokerd login: session open until %s (%v), want about 12h from now (the default --duration)", expiry, err)
	}
	if exp, _ := time.ParseInLocation(time.DateTime, expiry, time.Local); m[4] != exp.Add(-broker.SessionMinLeft).Format(time.DateTime) {
		t.Errorf("brokerd login: next login due %s, want %s, %v before the session ends at %s", m[4], exp.Add(-broker.SessionMinLeft).Format(time.DateTime), broker.SessionMinLeft, expiry)
	}

	if arn := e.callerARN(t, prodEnv); !strings.HasPrefix(arn, assumedUpdateApp) {
		t.Errorf("aws sts get-caller-identity for %s after login: Arn = %q, want %s…", prod, arn, assumedUpdateApp)
	}
	if arn := e.callerARN(t, roEnv); !strings.HasPrefix(arn, assumedReadOnly) {
		t.Errorf("aws sts get-caller-identity for %s after login: Arn = %q, want %s…", ro, arn, assumedReadOnly)
	}
	// The source profile itself is served its MFA session, without an STS call.
	session := d.credentials(t, dev)
	prodCreds, roCreds := d.credentials(t, prod), d.credentials(t, ro)

	gst := proxy.callsOf("GetSessionToken")
	if len(gst) != 1 {
		t.Fatalf("%d GetSessionToken calls served both roles, want exactly 1: %v", len(gst), gst)
	}
	if got := gst[0].Get("SerialNumber"); got != aliceMFA {
		t.Errorf("GetSessionToken SerialNumber = %q, want %s", got, aliceMFA)
	}
	if got := gst[0].Get("TokenCode"); got != mfaTestCode {
		t.Errorf("GetSessionToken TokenCode = %q, want %s", got, mfaTestCode)
	}
	if got := gst[0].Get("DurationSeconds"); got != "43200" {
		t.Errorf("GetSessionToken DurationSeconds = %q, want 43200 (12h)", got)
	}
	if got := proxy.signersOf("GetSessionToken"); !slices.Equal(got, []string{keys.ID}) {
		t.Errorf("GetSessionToken was signed by %v, want the long-term key %s", got, keys.ID)
	}
	assumed := proxy.callsOf("AssumeRole")
	var roles []string
	for _, f := range assumed {
		roles = append(roles, f.Get("RoleArn"))
		if f.Get("TokenCode") != "" || f.Get("SerialNumber") != "" {
			t.Errorf("AssumeRole carried an MFA code or device (%v): the session should stand for them", f)
		}
	}
	slices.Sort(roles)
	if want := []string{"arn:aws:iam::999999999999:role/ReadOnly", "arn:aws:iam::999999999999:role/UpdateApp"}; !slices.Equal(roles, want) {
		t.Errorf("AssumeRole calls for roles %v, want one each for %v", roles, want)
	}
	if session.AccessKeyID == keys.ID {
		t.Fatalf("the source profile %s was served its long-term key", dev)
	}
	for _, signer := range proxy.signersOf("AssumeRole") {
		if signer != session.AccessKeyID {
			t.Errorf("AssumeRole was signed by %q, want the MFA session's key %s (the long-term key is %s)", signer, session.AccessKeyID, keys.ID)
		}
	}

	// The session is kept in the keychain, as its own item.
	kept, err := kc.Session(ctx, dev)
	if err != nil {
		t.Fatalf("the keychain holds no MFA session of %s after login: %v", dev, err)
	}
	if kept.AccessKeyID != session.AccessKeyID || kept.MFASerial != aliceMFA || kept.Expires.Local().Format(time.DateTime) != expiry {
		t.Errorf("the keychain's session of %s is key %s, device %s, expiry %s; want %s, %s, %s",
			dev, kept.AccessKeyID, kept.MFASerial, kept.Expires.Local().Format(time.DateTime), session.AccessKeyID, aliceMFA, expiry)
	}

	// 3. Status shows the session and when to log in next.
	text := e.mustRun(t, "", "status")
	outputs["brokerd status"] = text
	wantSessionShown(t, text, dev, expiry)
	outputs["brokerd status --json"] = e.mustRun(t, "", "status", "--json")
	var st control.Status
	if err := json.Unmarshal([]byte(outputs["brokerd status --json"]), &st); err != nil {
		t.Fatal(err)
	}
	if s := findSession(st, dev); s == nil || s.MFASerial != aliceMFA || s.Expires.Local().Format(time.DateTime) != expiry {
		t.Errorf("brokerd status --json sessions = %+v, want %s with device %s until %s", st.Sessions, dev, aliceMFA, expiry)
	}
	// The next login due is when the daemon stops using the session that
	// ends first, SessionMinLeft before its end: dev's, unless the
	// keychain, shared by the tests that run alongside, holds one of
	// theirs that ends sooner.
	first := control.Session{Profile: dev}
	if s := findSession(st, dev); s != nil {
		first = *s
	}
	for _, s := range st.Sessions {
		if s.Expires.Before(first.Expires) {
			first = s
		}
	}
	if want := first.Expires.Add(-broker.SessionMinLeft); !first.UsedUntil.Equal(want) {
		t.Errorf("brokerd status --json: session %+v used until %v, want %v, %v before it expires", first, first.UsedUntil, want, broker.SessionMinLeft)
	}
	firstDue := first.Expires.Add(-broker.SessionMinLeft).Local().Format(time.DateTime)
	if want := "next login due: " + firstDue + " (in "; !strings.Contains(text, want) || !strings.Contains(text, "): brokerd login "+first.Profile+"\n") {
		t.Errorf("brokerd status:\n%s\nwant a line %q…%q", text, want, "): brokerd login "+first.Profile)
	}
	for name, text := range stateFiles(t, e.StateDir) {
		outputs["state file "+name+" (first daemon)"] = text
	}

	// 4. A restarted daemon reads the session from the keychain.
	d.stop(t)
	outputs["log of the first daemon"] = d.log()
	d2 := e.startDaemon(t, "--log-level", "debug")
	waitFor(t, "the restarted daemon to show the MFA session kept in the keychain", func() bool {
		return findSession(e.status(t), dev) != nil
	})
	text = e.mustRun(t, "", "status")
	outputs["brokerd status after restart"] = text
	wantSessionShown(t, text, dev, expiry)
	prodEnv = parseExports(t, e.mustRun(t, "", "env", prod)) // a new port
	if arn := e.callerARN(t, prodEnv); !strings.HasPrefix(arn, assumedUpdateApp) {
		t.Errorf("aws sts get-caller-identity for %s after a restart: Arn = %q, want %s…", prod, arn, assumedUpdateApp)
	}
	prodCreds2 := d2.credentials(t, prod)
	if n := len(proxy.callsOf("GetSessionToken")); n != 1 {
		t.Errorf("%d GetSessionToken calls after a restart, want still 1: the session is in the keychain", n)
	}
	if signers := proxy.signersOf("AssumeRole"); len(signers) != 3 || signers[2] != session.AccessKeyID {
		t.Errorf("AssumeRole signers after a restart: %v, want a third call signed by the session's key %s", signers, session.AccessKeyID)
	}
	for name, text := range stateFiles(t, e.StateDir) {
		outputs["state file "+name+" (restarted daemon)"] = text
	}

	// 5. Logout: the session and the role credentials derived from it go.
	calls := proxy.count()
	out := e.mustRun(t, "", "logout", dev)
	outputs["brokerd logout"] = out
	if want := "closed the MFA session of profile " + dev + "\n"; out != want {
		t.Errorf("brokerd logout %s printed %q, want %q", dev, out, want)
	}
	for _, p := range []string{prod, ro, dev} {
		r := d2.get(t, "/v1/credentials/"+p, nil)
		wantAPIError(t, r, http.StatusUnauthorized, "LoginRequired", loginHint)
	}
	if n := proxy.count(); n != calls {
		t.Errorf("requests after logout made %d STS calls, want none", n-calls)
	}
	if _, err := kc.Session(ctx, dev); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("the keychain's MFA session of %s after logout: %v, want none", dev, err)
	}
	if s := findSession(e.status(t), dev); s != nil {
		t.Errorf("brokerd status lists the session of %s after logout: %+v", dev, s)
	}
	if again := e.run(t, "", "logout", dev); again.code != 0 {
		t.Errorf("a second brokerd logout %s: %v, want success (nothing to close is fine)", dev, again)
	}
	d2.stop(t)
	outputs["log of the restarted daemon"] = d2.log()

	// …and a later restart does not bring the session back.
	d3 := e.startDaemon(t, "--log-level", "debug")
	wantAPIError(t, d3.get(t, "/v1/credentials/"+prod, nil), http.StatusUnauthorized, "LoginRequired", loginHint)
	if s := findSession(e.status(t), dev); s != nil {
		t.Errorf("brokerd status lists the session of %s after logout and a restart: %+v", dev, s)
	}
	if n := len(proxy.callsOf("GetSessionToken")); n != 1 {
		t.Errorf("%d GetSessionToken calls in all, want 1", n)
	}
	d3.stop(t)
	outputs["log of the third daemon"] = d3.log()

	// 7. No secret of the session, the roles or the keys was shown or kept.
	secrets := map[string]string{
		"long-term secret access key":   keys.Secret,
		"MFA session secret key":        session.SecretAccessKey,
		"MFA session token":             session.Token,
		"role secret access key":        prodCreds.SecretAccessKey,
		"role session token":            prodCreds.Token,
		"second role secret key":        roCreds.SecretAccessKey,
		"second role session token":     roCreds.Token,
		"role secret key after restart": prodCreds2.SecretAccessKey,
		"role token after restart":      prodCreds2.Token,
	}
	for where, text := range outputs {
		for what, secret := range secrets {
			if part, ok := leaked(text, secret); ok {
				t.Errorf("%s contains the %s (%q):\n%s", where, what, part, text)
			}
		}
	}
	if log := outputs["log of the first daemon"]; !strings.Contains(log, "MFA session opened") || !strings.Contains(log, aliceMFA) {
		t.Errorf("the daemon's log does not record the login with its device:\n%s", log)
	}
}

// TestMFAProcess checks that a profile's mfa_process gives the code: a
// plain `brokerd login`, for the source of the daemon's default profile,
// opens a session without --code, and the default profile's role works
// until a plain `brokerd logout`.
func TestMFAProcess(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, `
[profile {dev}]
region = us-east-1
mfa_serial = arn:aws:iam::111111111111:mfa/alice
mfa_process = echo 123456

[profile {prod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}
`)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)
	// Log out at the end: other tests' daemons would list the session.
	t.Cleanup(func() { e.run(t, "", "logout", dev) })

	wantAPIError(t, d.get(t, "/v1/credentials", nil), http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+dev)
	// 36h, STS's longest, also keeps this session from being the next due
	// in the status of TestMFALoginOnceADay's daemons.
	login := e.run(t, "", "login", "--duration", "36h")
	m := loginLine.FindStringSubmatch(login.stdout)
	if login.code != 0 || m == nil {
		t.Fatalf("brokerd login with mfa_process: %v\nwant exit 0 and one line matching %s", login, loginLine)
	}
	if m[1] != dev || m[3] != "36h0m0s" {
		t.Errorf("brokerd login printed %q, want a session of %s for 36h0m0s", login.stdout, dev)
	}
	gst := proxy.callsOf("GetSessionToken")
	if len(gst) != 1 || gst[0].Get("TokenCode") != mfaTestCode || gst[0].Get("DurationSeconds") != "129600" {
		t.Fatalf("GetSessionToken calls %v, want one with mfa_process's code 123456 and DurationSeconds 129600", gst)
	}
	if arn := e.callerARN(t, d.Env); !strings.HasPrefix(arn, assumedUpdateApp) {
		t.Errorf("aws sts get-caller-identity for the default profile after login: Arn = %q, want %s…", arn, assumedUpdateApp)
	}

	// A plain logout closes the session of the default profile's source.
	if out := e.mustRun(t, "", "logout"); out != "closed the MFA session of profile "+dev+"\n" {
		t.Errorf("brokerd logout printed %q, want it to close %s's session", out, dev)
	}
	wantAPIError(t, d.get(t, "/v1/credentials", nil), http.StatusUnauthorized, "LoginRequired", "run: brokerd login "+dev)
}

// TestMFALoginErrors checks that each way a login cannot happen is one line
// that says what to do, exits non-zero, and calls no STS.
func TestMFALoginErrors(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, mfaConfig+`
[profile {plain}]
region = us-east-1

[profile {plainrole}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {plain}

[profile {failing}]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
mfa_process = exit 3

[profile {chatty}]
mfa_serial = arn:aws:iam::111111111111:mfa/alice
mfa_process = echo your code is 123456
`)
	dev, plain := e.profile("dev"), e.profile("plain")
	e.addKeys(t, dev, randomKeys(t))
	e.addKeys(t, plain, randomKeys(t))
	// Keys, so that a login gets as far as their mfa_process: a login
	// without keys is refused before a code is asked for.
	e.addKeys(t, e.profile("failing"), randomKeys(t))
	e.addKeys(t, e.profile("chatty"), randomKeys(t))

	notRunning := "brokerd is not running: start it with `brokerd serve`"
	for _, args := range [][]string{{"login", dev, "--code", mfaTestCode}, {"login"}, {"logout", dev}} {
		t.Run("no daemon: "+strings.Join(args, " "), func(t *testing.T) {
			wantOneLineError(t, e.run(t, "", args...), notRunning)
		})
	}

	e.startDaemon(t)
	sixDigits := "the MFA code must be 6 digits"
	durationRange := "STS allows MFA sessions from 15m to 36h"
	tests := []struct {
		name, stdin string
		args        []string
		phrase      string
	}{
		{"five digits", "", []string{"login", dev, "--code", "12345"}, sixDigits},
		{"seven digits", "", []string{"login", dev, "--code", "1234567"}, sixDigits},
		{"letters", "", []string{"login", dev, "--code", "abcdef"}, sixDigits},
		{"duration 40h", "", []string{"login", dev, "--code", mfaTestCode, "--duration", "40h"}, durationRange},
		{"duration 10m", "", []string{"login", dev, "--code", mfaTestCode, "--duration", "10m"}, durationRange},
		{"no mfa_serial", "", []string{"login", plain, "--code", mfaTestCode},
			"add mfa_serial = arn:aws:iam::ACCOUNT:mfa/DEVICE to [profile " + plain + "] in " + e.ConfigFile},
		{"no mfa_serial, by role", "", []string{"login", e.profile("plainrole"), "--code", mfaTestCode},
			"add mfa_serial = arn:aws:iam::ACCOUNT:mfa/DEVICE to [profile " + plain + "]"},
		{"unknown profile", "", []string{"login", e.profile("nosuch"), "--code", mfaTestCode},
			"run `brokerd keys add " + e.profile("nosuch") + "`"},
		{"no code on standard input", "", []string{"login", dev}, "no MFA code: give it with --code, or set mfa_process in the profile"},
		{"bad code on standard input", "12345\n", []string{"login", dev}, sixDigits},
		{"mfa_process fails", "", []string{"login", e.profile("failing")}, "mfa_process of profile " + e.profile("failing") + " failed"},
		{"mfa_process prints more than a code", "", []string{"login", e.profile("chatty")}, sixDigits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(t, tt.stdin, tt.args...)
			wantOneLineError(t, r, tt.phrase)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	if n := proxy.count(); n != 0 {
		t.Errorf("refused logins made %d STS calls, want none: %v", n, proxy.callsOf("GetSessionToken"))
	}
	if st := e.status(t); findSession(st, dev) != nil || findSession(st, plain) != nil {
		t.Errorf("brokerd status lists sessions after refused logins: %+v", st.Sessions)
	}
}

// apiMessage returns the message of an endpoint's JSON error.
func apiMessage(t testing.TB, r response) string {
	t.Helper()
	var body struct{ Message string }
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return body.Message
}

// findSession returns the MFA session of profile in st, or nil. The
// keychain is shared by all tests, so st may list other tests' sessions.
func findSession(st control.Status, profile string) *control.Session {
	for i, s := range st.Sessions {
		if s.Profile == profile {
			return &st.Sessions[i]
		}
	}
	return nil
}

// wantSessionShown checks that brokerd status text has the MFA sessions
// table with a row for profile: its device and expiry.
func wantSessionShown(t testing.TB, text, profile, expiry string) {
	t.Helper()
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(profile) + ` +` + regexp.QuoteMeta(aliceMFA) + ` +` + regexp.QuoteMeta(expiry) + ` +\S+$`)
	if !strings.Contains(text, "MFA SESSION") || !row.MatchString(text) {
		t.Errorf("brokerd status:\n%s\nwant an MFA SESSION table with the row %s  %s  %s  LEFT", text, profile, aliceMFA, expiry)
	}
}

// TestMFASessionExpiry plants MFA sessions in the keychain, as an earlier
// day's login leaves them, and starts a daemon: a session about to expire
// is served and warned of in the log and by doctor; an expired one answers
// LoginRequired saying when it expired, shows as due in status, fails
// doctor, and a login renews it.
//
// Not parallel: every daemon loads the sessions of all profiles with keys
// in the shared keychain, and an expired session would fail the doctor and
// status checks of tests running meanwhile. Sequential tests run before
// the parallel ones resume.
func TestMFASessionExpiry(t *testing.T) {
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, mfaConfig+`
[profile {late}]
region = us-east-1
mfa_serial = arn:aws:iam::111111111111:mfa/alice

[profile {lateprod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {late}
`)
	dev, prod, late, lateProd := e.profile("dev"), e.profile("prod"), e.profile("late"), e.profile("lateprod")
	e.addKeys(t, dev, randomKeys(t))
	e.addKeys(t, late, randomKeys(t))
	ctx := context.Background()
	kc := keychain.New(keychain.System{})
	plant := func(profile string, expires time.Time) keychain.Session {
		k := randomKeys(t)
		s := keychain.Session{AccessKeyID: "ASIA" + k.ID[4:], SecretAccessKey: k.Secret, SessionToken: randomToken(),
			Expires: expires.UTC().Truncate(time.Second), MFASerial: aliceMFA}
		if err := kc.SetSession(ctx, profile, s); err != nil {
			t.Fatalf("store an MFA session of %s in the keychain: %v", profile, err)
		}
		t.Cleanup(func() { kc.DeleteSession(ctx, profile) })
		return s
	}
	expired := plant(dev, time.Now().Add(-time.Hour))
	expiring := plant(late, time.Now().Add(20*time.Minute))
	d := e.startDaemon(t)

	// The session with 20 minutes left is warned of, and serves its role.
	warning := "MFA session expires soon: run `brokerd login " + late + "` to renew it"
	waitFor(t, "the log to warn of the session about to expire", func() bool { return strings.Contains(d.log(), warning) })
	waitFor(t, "the log to warn of the expired session", func() bool {
		return strings.Contains(d.log(), "MFA session expired: run `brokerd login "+dev+"` to open a new one")
	})
	if strings.Contains(d.log(), "expires soon: run `brokerd login "+dev+"`") {
		t.Errorf("the log says the session of %s, expired an hour ago, expires soon:\n%s", dev, d.log())
	}
	c := d.credentials(t, lateProd)
	if signers := proxy.signersOf("AssumeRole"); !slices.Equal(signers, []string{expiring.AccessKeyID}) {
		t.Errorf("AssumeRole for %s signed by %v, want the keychain's session key %s", lateProd, signers, expiring.AccessKeyID)
	}
	if c.AccessKeyID == expiring.AccessKeyID {
		t.Errorf("%s was served the MFA session's key, want the role's", lateProd)
	}

	// The expired one answers LoginRequired, saying when it expired.
	r := d.get(t, "/v1/credentials/"+prod, nil)
	wantAPIError(t, r, http.StatusUnauthorized, "LoginRequired", "the MFA session of profile \""+dev+"\" expired at "+expired.Expires.Local().Format(time.DateTime))
	if msg := apiMessage(t, r); !strings.HasSuffix(msg, "run: brokerd login "+dev) {
		t.Errorf("message %q, want it to end with run: brokerd login %s", msg, dev)
	}
	text := e.mustRun(t, "", "status")
	if !strings.Contains(text, "login due now: brokerd login "+dev+"\n") || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(dev)+` .* expired$`).MatchString(text) {
		t.Errorf("brokerd status:\n%s\nwant %s's session shown expired and \"login due now: brokerd login %s\"", text, dev, dev)
	}
	doc := e.exec(t, d.Env, "", brokerdBin, "doctor")
	for _, want := range []string{
		"FAIL  MFA session " + dev + ": expired at " + expired.Expires.Local().Format(time.DateTime) + "\n      fix: brokerd login " + dev + "\n",
		// Left until the daemon stops using it, 70 s before it expires.
		"warn  MFA session " + late + ": 19m0s left\n      fix: brokerd login " + late + "\n",
	} {
		if !strings.Contains(doc.stdout, want) {
			t.Errorf("brokerd doctor printed:\n%s\nwant %q", doc.stdout, want)
		}
	}
	if doc.code == 0 {
		t.Errorf("brokerd doctor with an expired MFA session exited 0")
	}
	if n := len(proxy.callsOf("GetSessionToken")); n != 0 {
		t.Errorf("%d GetSessionToken calls before login, want none", n)
	}

	// A login renews the expired session.
	e.mustRun(t, "", "login", dev, "--code", mfaTestCode)
	d.credentials(t, prod)
	if s := findSession(e.status(t), dev); s == nil || time.Until(s.Expires) < 11*time.Hour {
		t.Errorf("the session of %s after login: %+v, want about 12h left", dev, s)
	}
	if text := e.mustRun(t, "", "status"); !strings.Contains(text, "): brokerd login "+late+"\n") {
		t.Errorf("brokerd status after renewing %s:\n%s\nwant the next login due to be %s's", dev, text, late)
	}
}
