//go:build integration

package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestEndpointErrors checks each way a request is refused over real HTTP:
// the JSON body {"code","message"} the SDKs read, the status they act on,
// and a message that tells the person what to do.
func TestEndpointErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig+`
[profile {orphan}]
role_arn = arn:aws:iam::999999999999:role/Orphan
source_profile = {keyless}
`)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	gone := e.profile("gone")
	d := e.startDaemon(t, "--default-profile", gone)

	withHeader := func(k, v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set(k, v) }
	}
	tests := []struct {
		name   string
		method string
		path   string
		edit   func(*http.Request)
		status int
		code   string
		phrase string
	}{
		{"no Authorization header", "GET", "/v1/credentials/" + prod, func(r *http.Request) { r.Header.Del("Authorization") },
			401, "MissingToken", "set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"},
		{"wrong token", "GET", "/v1/credentials/" + prod, withHeader("Authorization", randomToken()),
			403, "InvalidToken", `run eval "$(brokerd env)" again`},
		{"token with Bearer", "GET", "/v1/credentials/" + prod, withHeader("Authorization", "Bearer "+d.Token),
			403, "InvalidToken", `run eval "$(brokerd env)" again`},
		{"foreign Host header", "GET", "/v1/credentials/" + prod, func(r *http.Request) { r.Host = "evil.example:" + d.Port },
			403, "InvalidHost", "use the URL from `brokerd env`"},
		{"browser Origin", "GET", "/v1/credentials/" + prod, withHeader("Origin", "https://evil.example"),
			403, "BrowserRequest", "requests from web browsers are refused"},
		{"browser Sec-Fetch-Mode", "GET", "/v1/credentials/" + prod, withHeader("Sec-Fetch-Mode", "cors"),
			403, "BrowserRequest", "requests from web browsers are refused"},
		{"unknown profile", "GET", "/v1/credentials/" + e.profile("nosuch"), nil,
			404, "ProfileNotFound", "add a [profile " + e.profile("nosuch") + "] section with role_arn and source_profile, or run `brokerd keys add " + e.profile("nosuch") + "`"},
		{"missing default profile", "GET", "/v1/credentials", nil,
			404, "ProfileNotFound", "run `brokerd keys add " + gone + "`"},
		{"source profile without keys", "GET", "/v1/credentials/" + e.profile("orphan"), nil,
			404, "NoKeys", "run `brokerd keys add " + e.profile("keyless") + "`"},
		{"unknown path", "GET", "/v1/other", nil,
			404, "NotFound", "credentials are at /v1/credentials/PROFILE"},
		{"POST", "POST", "/v1/credentials/" + prod, nil,
			405, "MethodNotAllowed", "use GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := d.request(tt.method, tt.path, tt.edit)
			if err != nil {
				t.Fatal(err)
			}
			wantAPIError(t, r, tt.status, tt.code, tt.phrase)
		})
	}

	// The log has one line per refused request.
	d.stop(t)
	if got := strings.Count(d.log(), "request refused"); got != len(tests) {
		t.Errorf("log has %d \"request refused\" lines for %d refused requests:\n%s", got, len(tests), d.log())
	}
}

// TestEndpointSTSUnreachable points the daemon at a closed port: 503
// STSUnavailable, which SDKs retry, and the error shows in brokerd status.
// With no default profile, /v1/credentials says how to name one.
func TestEndpointSTSUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", "http://"+closedAddr(t))
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", "")

	wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), 503, "STSUnavailable", "check the network; brokerd retries")
	wantAPIError(t, d.get(t, "/v1/credentials", nil), 404, "NoDefaultProfile", "name one in the URL (/v1/credentials/PROFILE) or start brokerd with --default-profile")

	p := profileStatus(t, e.status(t), prod)
	if !strings.Contains(p.LastError, "cannot reach STS") || p.Expires != nil {
		t.Errorf("brokerd status for %s: last error %q, expires %v; want the STS error and no credentials", prod, p.LastError, p.Expires)
	}
}

// TestEndpointSTSRefuses points the daemon at the STS that checks keys and
// policies: STS's own error code and status reach the client, with what to
// do. (moto accepts any role ARN and any duration_seconds, so keys and
// permissions are what it can refuse.)
func TestEndpointSTSRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", authSTS.URL)
	e.writeConfig(t, `
[profile {stranger}]
region = us-east-1

[profile {stranger-role}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {stranger}

[profile {user}]
region = us-east-1

[profile {denied}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {user}
`)
	stranger, user := e.profile("stranger"), e.profile("user")
	e.addKeys(t, stranger, randomKeys(t)) // keys IAM never issued
	e.addKeys(t, user, authSTS.newAccessKey(t, authSTS.newUser(t, user, false)))
	d := e.startDaemon(t)

	tests := []struct {
		name, profile, code, phrase string
	}{
		{"unknown keys, role", e.profile("stranger-role"), "InvalidClientTokenId", "the keychain's keys of profile \"" + stranger + "\" are not valid: store current ones with `brokerd keys add " + stranger + " --replace`"},
		{"unknown keys, source profile", stranger, "InvalidClientTokenId", "store current ones with `brokerd keys add " + stranger + " --replace`"},
		{"role not allowed", e.profile("denied"), "AccessDenied", "check that arn:aws:iam::999999999999:role/UpdateApp trusts your user and that your user may assume it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, d.get(t, "/v1/credentials/"+tt.profile, nil), http.StatusForbidden, tt.code, tt.phrase)
		})
	}
}
