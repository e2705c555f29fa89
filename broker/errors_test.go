package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
)

var (
	devRole   = profile.Profile{Name: "dev", RoleARN: "arn:aws:iam::222222222222:role/Dev", SourceProfile: "base"}
	adminRole = profile.Profile{Name: "admin", RoleARN: "arn:aws:iam::222222222222:role/Admin", SourceProfile: "dev"}
	base      = profile.Profile{Name: "base"}
)

// apiErr is an STS error response as the SDK returns it: an operation
// error around a response error with the HTTP status around the API error.
func apiErr(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient},
		},
		RequestID: "req-1",
	}}
}

// netErr is an STS call that did not get through, as the SDK returns it.
func netErr(err error) error {
	return &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: &smithyhttp.RequestSendError{Err: err}}
}

// untrustedTLS is the error of a request to a server whose certificate
// this machine does not trust, as a captive portal's.
func untrustedTLS(t *testing.T) error {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", nil)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("POST %s with an untrusted certificate = nil error, want one", srv.URL)
	}
	return err
}

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "sts.amazonaws.com", IsNotFound: true}}
	tests := []struct {
		name       string
		profile    string
		err        error
		wantStatus int
		wantCode   string
		wantIn     []string
		notIn      []string
	}{
		{
			name: "invalid profile", profile: "prod",
			err:        fmt.Errorf("%w /c, profile %q: duration_seconds = %q: want whole seconds from 900 to 129600", profile.ErrInvalid, "prod", "1h"),
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`"prod"`, "duration_seconds", "900 to 129600"},
		},
		{
			name: "source_profile loop", profile: "a",
			err:        fmt.Errorf("%w: profile %q: source_profile loops back to %q: fix /c", profile.ErrInvalid, "a", "b"),
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`"a"`, "loops back"},
		},
		{
			name: "role_arn without source_profile", profile: "a",
			err:        fmt.Errorf("%w: profile %q has role_arn but no source_profile: add source_profile = NAME", profile.ErrInvalid, "a"),
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`"a"`, "source_profile"},
		},
		{
			name: "unsupported source", profile: "sso",
			err:        fmt.Errorf("%w: profile %q uses sso_start_url, which brokerd does not serve", profile.ErrUnsupported, "sso"),
			wantStatus: 400, wantCode: "UnsupportedSource",
			wantIn: []string{`"sso"`, "sso_start_url"},
		},
		{
			// A name the config file lacks resolves to a keychain-only
			// source, and only its missing keys make it unknown.
			name: "profile not found", profile: "nope",
			err:        &keysError{profile: "nope", err: fmt.Errorf("read keys of profile %q: %w", "nope", keychain.ErrNotFound)},
			wantStatus: 404, wantCode: "ProfileNotFound",
			wantIn: []string{`"nope"`, "[profile nope]", "brokerd keys add nope"},
		},
		{
			name: "no keys for the source", profile: "dev",
			err:        &keysError{profile: "base", listed: true, err: fmt.Errorf("read keys of profile %q: %w", "base", keychain.ErrNotFound)},
			wantStatus: 404, wantCode: "NoKeys",
			wantIn: []string{`"base"`, "`brokerd keys add base`"},
		},
		{
			name: "mistyped source_profile", profile: "prod",
			err: &keysError{profile: "deev", listed: true, near: "dev", role: "prod", config: "/c",
				err: fmt.Errorf("read keys of profile %q: %w", "deev", keychain.ErrNotFound)},
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`source_profile "deev" of profile "prod" is neither in the config nor in the keychain (did you mean dev?)`,
				"set source_profile = dev in [profile prod] of /c", "`brokerd keys add deev`"},
		},
		{
			name: "misspelt role_arn", profile: "prod",
			err: &keysError{profile: "prod", listed: true, typo: "role_arm", meant: "role_arn", elsewhere: true, config: "/c",
				err: fmt.Errorf("read keys of profile %q: %w", "prod", keychain.ErrNotFound)},
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`profile "prod" has no role_arn but sets role_arm (did you mean role_arn?): fix [profile prod] in /c`},
			notIn:  []string{"keys add"},
		},
		{
			name: "misspelt mfa_serial", profile: "admin",
			err: &keysError{profile: "default", listed: true, typo: "mfa_serail", meant: "mfa_serial", config: "/c",
				err: fmt.Errorf("read keys of profile %q: %w", "default", keychain.ErrNotFound)},
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`no keys for profile "default" in the keychain, and it has no mfa_serial but sets mfa_serail (did you mean mfa_serial?)`,
				"fix [default] in /c and run `brokerd keys add default`"},
		},
		{
			name: "no keys, bare", profile: "dev",
			err:        keychain.ErrNotFound,
			wantStatus: 404, wantCode: "NoKeys",
			wantIn: []string{"`brokerd keys add dev`"},
		},
		{
			name: "keychain locked", profile: "dev",
			err:        &keysError{profile: "base", err: fmt.Errorf("read keys: %w", fmt.Errorf("%w (%v)", keychain.ErrLocked, "failed to unlock correct collection"))},
			wantStatus: 503, wantCode: "KeychainLocked",
			wantIn: []string{"unlock"},
		},
		{
			name: "keychain unavailable", profile: "dev",
			err:        &keysError{profile: "base", err: fmt.Errorf("read keys: %w", keychain.ErrUnavailable)},
			wantStatus: 503, wantCode: "KeychainUnavailable",
			wantIn: []string{"Secret Service"},
		},
		{
			name: "keychain timeout", profile: "dev",
			err:        &keysError{profile: "base", err: fmt.Errorf("read keys: %w", keychain.ErrTimeout)},
			wantStatus: 503, wantCode: "KeychainUnavailable",
			wantIn: []string{"did not answer in time"},
		},
		{
			name: "STS access denied", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: apiErr(403, "AccessDenied", "not authorized to perform: sts:AssumeRole")},
			wantStatus: 403, wantCode: "AccessDenied",
			wantIn: []string{"STS AssumeRole", `"dev"`, "AccessDenied", "not authorized", "arn:aws:iam::222222222222:role/Dev trusts your user"},
		},
		{
			name: "STS invalid keys", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, signer: "base", err: apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")},
			wantStatus: 403, wantCode: "InvalidClientTokenId",
			wantIn: []string{`keys of profile "base"`, "`brokerd keys add base --replace`"},
		},
		{
			name: "STS refuses the credentials of an SSO source", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, signer: "sso-dev", ssoLogin: "my-sso", err: apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")},
			wantStatus: 403, wantCode: "InvalidClientTokenId",
			wantIn: []string{`IAM Identity Center credentials of profile "sso-dev"`, "`brokerd login my-sso`"},
			notIn:  []string{"keys add"},
		},
		{
			name: "STS invalid keys of a source profile", profile: "base",
			err:        &stsError{op: "GetSessionToken", profile: base, signer: "base", err: apiErr(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")},
			wantStatus: 403, wantCode: "SignatureDoesNotMatch",
			wantIn: []string{"STS GetSessionToken", "`brokerd keys add base --replace`"},
		},
		{
			name: "STS invalid keys under a chained role", profile: "admin",
			err:        &stsError{op: "AssumeRole", profile: adminRole, signer: "base", err: apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")},
			wantStatus: 403, wantCode: "InvalidClientTokenId",
			wantIn: []string{`profile "admin"`, "`brokerd keys add base --replace`"},
			notIn:  []string{"keys add dev", "keys add admin"},
		},
		{
			name: "STS refuses the MFA session", profile: "admin",
			err:        &stsError{op: "AssumeRole", profile: adminRole, signer: "base", session: true, err: apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")},
			wantStatus: 403, wantCode: "InvalidClientTokenId",
			wantIn: []string{`MFA session of profile "base"`, "`brokerd login base`"},
			notIn:  []string{"keys add"},
		},
		{
			name: "STS MFA session expired", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, signer: "base", session: true, err: apiErr(400, "ExpiredToken", "The security token included in the request is expired")},
			wantStatus: 403, wantCode: "ExpiredToken",
			wantIn: []string{"`brokerd login base`"},
		},
		{
			name: "STS invalid keys at an MFA login", profile: "base",
			err:        &stsError{op: "GetSessionToken", profile: base, signer: "base", mfa: true, err: apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")},
			wantStatus: 403, wantCode: "InvalidClientTokenId",
			wantIn: []string{"`brokerd keys add base --replace`"},
			notIn:  []string{"brokerd login"},
		},
		{
			name: "STS duration too long", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: apiErr(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")},
			wantStatus: 400, wantCode: "ValidationError",
			wantIn: []string{"duration_seconds", `"dev"`},
		},
		{
			name: "STS duration too long for a chained role", profile: "admin",
			err:        &stsError{op: "AssumeRole", profile: adminRole, err: apiErr(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")},
			wantStatus: 400, wantCode: "ValidationError",
			wantIn: []string{"duration_seconds = 3600 or less", `"admin"`},
			notIn:  []string{"maximum session duration"},
		},
		{
			name: "STS throttled", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: apiErr(400, "Throttling", "Rate exceeded")},
			wantStatus: 503, wantCode: "Throttling",
			wantIn: []string{"Rate exceeded", "STS is throttling requests: try again in a moment"},
		},
		{
			name: "STS throttling exception", profile: "base",
			err:        &stsError{op: "GetSessionToken", profile: base, err: apiErr(400, "ThrottlingException", "Rate exceeded")},
			wantStatus: 503, wantCode: "ThrottlingException",
			wantIn: []string{"STS GetSessionToken", "Rate exceeded", "STS is throttling requests"},
		},
		{
			name: "STS request limit exceeded", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: apiErr(400, "RequestLimitExceeded", "Request limit exceeded.")},
			wantStatus: 503, wantCode: "RequestLimitExceeded",
			wantIn: []string{"Request limit exceeded.", "STS is throttling requests"},
		},
		{
			name: "STS 429", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: apiErr(429, "TooManyRequests", "Slow down")},
			wantStatus: 503, wantCode: "TooManyRequests",
			wantIn: []string{"Slow down", "STS is throttling requests"},
		},
		{
			name: "STS throttled MFA login", profile: "base",
			err:        &stsError{op: "GetSessionToken", profile: base, mfa: true, err: apiErr(400, "Throttling", "Rate exceeded")},
			wantStatus: 503, wantCode: "Throttling",
			wantIn: []string{"STS is throttling requests"},
		},
		{
			name: "STS API error without a response", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: &smithy.GenericAPIError{Code: "ExpiredToken", Message: "expired"}},
			wantStatus: 403, wantCode: "ExpiredToken",
			wantIn: []string{"expired"},
		},
		{
			name: "STS 500", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: apiErr(500, "InternalFailure", "We encountered an internal error.")},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"STS AssumeRole", `"dev"`, "InternalFailure", "internal error", "STS is failing"},
		},
		{
			name: "STS 503", profile: "base",
			err:        &stsError{op: "GetSessionToken", profile: base, err: apiErr(503, "ServiceUnavailable", "Service is unavailable.")},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"STS GetSessionToken", "ServiceUnavailable"},
		},
		{
			name: "STS server fault without a response", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: &smithy.GenericAPIError{Code: "InternalFailure", Message: "boom", Fault: smithy.FaultServer}},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"boom"},
		},
		{
			name: "login required", profile: "prod",
			err:        &loginError{source: "dev"},
			wantStatus: 401, wantCode: "LoginRequired",
			wantIn: []string{`"prod"`, "run: brokerd login dev"},
		},
		{
			name: "network error", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: netErr(refused)},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"cannot reach STS", `"dev"`, "no such host"},
		},
		{
			name: "connection refused", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: netErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"connection refused"},
		},
		{
			name: "timeout", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: netErr(context.DeadlineExceeded)},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"deadline exceeded"},
		},
		{
			name: "unwrapped STS failure", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: errors.New("dial tcp: i/o timeout")},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"i/o timeout"},
		},
		{
			// A captive portal or an intercepting proxy: retrying cannot
			// help until the person acts.
			name: "certificate not trusted", profile: "dev",
			err:        &stsError{op: "AssumeRole", profile: devRole, err: netErr(untrustedTLS(t))},
			wantStatus: 503, wantCode: "STSUnavailable",
			wantIn: []string{"certificate was not trusted for profile \"dev\"", "x509", "captive portal", "AWS_CA_BUNDLE", "brokerd retries"},
			notIn:  []string{"check the network"},
		},
		{
			name: "already classified", profile: "base",
			err:        fault.New(fault.InvalidConfig, "profile %q has no mfa_serial, nor does any role that uses it", "base"),
			wantStatus: 400, wantCode: "InvalidConfig",
			wantIn: []string{`"base"`, "mfa_serial"},
		},
		{
			name: "other", profile: "dev",
			err:        errors.New("load AWS config for profile \"dev\": boom"),
			wantStatus: 500, wantCode: "InternalError",
			wantIn: []string{"boom"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.profile, tt.err)
			if status, code, _ := httperr.Answer(got); status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("classify(%q, %v) = %d %s (%v), want %d %s", tt.profile, tt.err, status, code, got.Kind, tt.wantStatus, tt.wantCode)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(got.Error(), s) {
					t.Errorf("classify(%q, %v) message = %q, want %q in it", tt.profile, tt.err, got.Error(), s)
				}
			}
			for _, s := range tt.notIn {
				if strings.Contains(got.Error(), s) {
					t.Errorf("classify(%q, %v) message = %q, want no %q in it", tt.profile, tt.err, got.Error(), s)
				}
			}
			if strings.Contains(got.Error(), "<nil>") {
				t.Errorf("classify(%q, %v) message = %q, which shows a nil error", tt.profile, tt.err, got.Error())
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classify(%q, %v) does not wrap the error it classified", tt.profile, tt.err)
			}
		})
	}
}

// TestClassify_Login checks that an MFA login STS did not answer names the
// source profile whose session it opens, not the role the user named, and
// tells the user to run it again: nothing retries a login.
func TestClassify_Login(t *testing.T) {
	unreadable := &smithy.OperationError{ServiceID: "STS", OperationName: "GetSessionToken",
		Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 200}},
			Err:      &smithy.DeserializationError{Err: errors.New("XML syntax error on line 1: unexpected EOF")},
		}}}
	tests := []struct {
		name   string
		err    error
		wantIn []string
	}{
		{"no such host", netErr(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "sts.amazonaws.com", IsNotFound: true}}),
			[]string{"cannot reach STS", "no such host", "check the network", "once STS is reachable, run `brokerd login base` again"}},
		{"connection refused", netErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
			[]string{"cannot reach STS", "connection refused", "once STS is reachable, run `brokerd login base` again"}},
		{"timeout", netErr(context.DeadlineExceeded),
			[]string{"deadline exceeded", "run `brokerd login base` again"}},
		{"unwrapped", errors.New("dial tcp: i/o timeout"),
			[]string{"i/o timeout", "run `brokerd login base` again"}},
		{"STS 503", apiErr(503, "ServiceUnavailable", "Service is unavailable."),
			[]string{"STS GetSessionToken", "ServiceUnavailable", "run `brokerd login base` again"}},
		{"unreadable answer", unreadable,
			[]string{"cannot read", "unexpected EOF", "run `brokerd login base` again", "AWS_ENDPOINT_URL_STS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// brokerd login prod opens the MFA session of prod's source, base.
			err := &stsError{op: "GetSessionToken", profile: base, signer: "base", mfa: true, err: tt.err}
			got := classify("prod", err)
			if status, code, _ := httperr.Answer(got); got.Kind != fault.STSUnavailable || status != 503 || code != "STSUnavailable" {
				t.Errorf("classify(%q, %v) = %v %d %s, want STSUnavailable 503 STSUnavailable", "prod", err, got.Kind, status, code)
			}
			for _, want := range append(tt.wantIn, `profile "base"`) {
				if !strings.Contains(got.Message, want) {
					t.Errorf("classify(%q, %v) = %q, want %q in it", "prod", err, got.Message, want)
				}
			}
			for _, bad := range []string{`"prod"`, "brokerd retries"} {
				if strings.Contains(got.Message, bad) {
					t.Errorf("classify(%q, %v) = %q, want no %q in it", "prod", err, got.Message, bad)
				}
			}
			if !errors.Is(got, err) {
				t.Errorf("classify(%q, %v) does not wrap the error it classified", "prod", err)
			}
		})
	}
}

// TestClassify_NotSTS checks that an answer that is not STS's (a proxy
// asking to sign in again, a captive portal, a blocking page) is STS being
// unavailable, saying what is in the way, not STS refusing the call with
// "UnknownError: UnknownError".
func TestClassify_NotSTS(t *testing.T) {
	const page = `<!DOCTYPE html><html><head><title>Sign in to continue</title></head><body>Sign in</body></html>`
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		wantIn []string // nil: not taken for another's answer
	}{
		// An STS look-alike (moto) that nests its error a level deeper:
		// the SDK cannot read it either, but it is STS's refusal.
		{"unread XML refusal", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code><Message>no</Message></Error></Errors></ErrorResponse>`)
		}, nil},
		{"redirect to sign in", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://gateway.proxy.example/auth?token=s3cr3t", http.StatusFound)
		}, []string{"HTTP 302 (a redirect to gateway.proxy.example)"}},
		{"blocking page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, page)
		}, []string{"HTTP 403"}},
		{"proxy authentication", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusProxyAuthRequired)
			io.WriteString(w, page)
		}, []string{"HTTP 407"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tt.answer))
			defer srv.Close()
			c := stsClientOf(t, srv.URL)
			_, err := c.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(devRole.RoleARN), RoleSessionName: aws.String("brokerd")},
				signed{c, aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "secret"}}.sign)
			got := classify("dev", &stsError{op: "AssumeRole", profile: devRole, err: err})
			if tt.wantIn == nil {
				if got.Kind != fault.Refused || strings.Contains(got.Error(), "captive portal") {
					t.Errorf("classify(%v) = %v %q, want Refused, not a captive portal", err, got.Kind, got.Error())
				}
				return
			}
			if status, code, _ := httperr.Answer(got); status != http.StatusServiceUnavailable || code != "STSUnavailable" {
				t.Errorf("classify(%v) = %d %s, want 503 STSUnavailable", err, status, code)
			}
			for _, want := range append(tt.wantIn, "captive portal or a proxy is in the way", "sign in to the network", "brokerd retries") {
				if !strings.Contains(got.Error(), want) {
					t.Errorf("classify(%v) message = %q, want %q in it", err, got.Error(), want)
				}
			}
			for _, not := range []string{"UnknownError", "s3cr3t", "\n"} {
				if strings.Contains(got.Error(), not) {
					t.Errorf("classify(%v) message = %q, want no %q in it", err, got.Error(), not)
				}
			}
		})
	}
}
