package broker

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
)

// stsError is an STS call that failed.
type stsError struct {
	op      string
	profile profile.Profile // the profile the call was for
	signer  string          // the source profile whose keys, or MFA session, signed it
	session bool            // signed with signer's MFA session, not its keys
	mfa     bool            // called with an MFA code
	// ssoLogin, when set, names the IAM Identity Center login whose role
	// credentials signed it.
	ssoLogin string
	err      error
}

func (e *stsError) Error() string {
	return fmt.Sprintf("STS %s for profile %q: %v", e.op, e.profile.Name, e.err)
}
func (e *stsError) Unwrap() error { return e.err }

// keysError is a failure to read the keys of a source profile.
type keysError struct {
	profile string
	listed  bool // the profile asked for is in the config file
	// near, when set, is the profile that the source_profile of role
	// likely meant, in the config file config: profile is neither in it
	// nor in the keychain.
	near, role, config string
	// typo, when set, is a setting of profile, in the config file config,
	// that likely misspells meant, a credential setting it lacks; elsewhere
	// means meant gets credentials from elsewhere than keys.
	typo, meant string
	elsewhere   bool
	err         error
}

func (e *keysError) Error() string { return e.err.Error() }
func (e *keysError) Unwrap() error { return e.err }

// NotFound is the error of a profile name that is neither in the config
// file nor in the keychain.
func NotFound(name string) *fault.Error {
	return fault.New(fault.NotFound, "profile %q is not in the AWS config file and has no keys in the keychain: add a [profile %s] section with role_arn and source_profile, or run `brokerd keys add %s`", name, name, name)
}

// classify turns err into a *fault.Error for profile name, with a message
// that says what to do.
func classify(name string, err error) *fault.Error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe
	}
	e := &fault.Error{Kind: fault.Internal, Message: err.Error(), Err: err}
	var api smithy.APIError
	var se *stsError
	var le *loginError
	var ke *keysError
	switch {
	case errors.Is(err, profile.ErrInvalid):
		e.Kind = fault.InvalidConfig
	case errors.Is(err, profile.ErrUnsupported):
		e.Kind = fault.Unsupported
	case errors.As(err, &le):
		e.Kind = fault.LoginRequired
		e.Message = fmt.Sprintf("profile %q needs an MFA login (%s): run: brokerd login %s", name, le.Error(), le.source)
	case errors.Is(err, keychain.ErrNotFound) && errors.As(err, &ke) && !ke.listed:
		e.Kind, e.Message = fault.NotFound, NotFound(name).Message
	case errors.Is(err, keychain.ErrNotFound) && errors.As(err, &ke) && ke.near != "":
		e.Kind = fault.InvalidConfig
		e.Message = fmt.Sprintf("source_profile %q of profile %q is neither in the config nor in the keychain (did you mean %s?): set source_profile = %s in %s of %s, or run `brokerd keys add %s`",
			ke.profile, ke.role, ke.near, ke.near, profile.Header(ke.role), ke.config, ke.profile)
	case errors.Is(err, keychain.ErrNotFound) && errors.As(err, &ke) && ke.typo != "" && ke.elsewhere:
		e.Kind = fault.InvalidConfig
		e.Message = fmt.Sprintf("profile %q has no %s but sets %s (did you mean %s?): fix %s in %s",
			ke.profile, ke.meant, ke.typo, ke.meant, profile.Header(ke.profile), ke.config)
	case errors.Is(err, keychain.ErrNotFound) && errors.As(err, &ke) && ke.typo != "":
		e.Kind = fault.InvalidConfig
		e.Message = fmt.Sprintf("no keys for profile %q in the keychain, and it has no %s but sets %s (did you mean %s?): fix %s in %s and run `brokerd keys add %s`",
			ke.profile, ke.meant, ke.typo, ke.meant, profile.Header(ke.profile), ke.config, ke.profile)
	case errors.Is(err, keychain.ErrNotFound):
		e.Kind = fault.NoKeys
		src := name
		if ke != nil {
			src = ke.profile
		}
		e.Message = fmt.Sprintf("no keys for profile %q in the keychain: run `brokerd keys add %s`", src, src)
	case errors.Is(err, keychain.ErrFormat):
		// Damaged, or another program's: keys add replaces it.
		e.Kind = fault.NoKeys
		src := name
		if errors.As(err, &ke) {
			src = ke.profile
		}
		e.Message = fmt.Sprintf("the keychain item of profile %q is not brokerd's format (damaged, or another program's): run `brokerd keys add %s` to store its keys again", src, src)
	case errors.Is(err, keychain.ErrLocked):
		e.Kind = fault.KeychainLocked
		e.Message = keychain.ErrLocked.Error()
	case errors.Is(err, keychain.ErrUnavailable), errors.Is(err, keychain.ErrTimeout):
		e.Kind = fault.KeychainUnavailable
	case errors.As(err, &api) && errors.As(err, &se):
		classifySTS(e, se, api)
	case errors.As(err, &se) && errors.As(err, new(*smithy.DeserializationError)):
		// An answer that does not parse (a proxy's page, a cut-off body)
		// is STS failing, not the network.
		e.Kind = fault.STSUnavailable
		e.Message = fmt.Sprintf("STS answered %s with something brokerd cannot read (%v): %s; if this lasts, check that AWS_ENDPOINT_URL_STS or endpoint_url names STS", subject(name, se), cmp.Or(errors.Unwrap(se.err), se.err), again(se))
	case errors.As(err, &se) && errors.As(err, new(*tls.CertificateVerificationError)):
		// Retrying cannot help until the network changes: say how.
		e.Kind = fault.STSUnavailable
		e.Message = fmt.Sprintf("STS's certificate was not trusted %s (%v): a captive portal or a proxy intercepts HTTPS: sign in to the network in a browser, "+
			"or behind a company proxy that inspects HTTPS set AWS_CA_BUNDLE to its CA certificate in brokerd's environment; %s", subject(name, se), cmp.Or(errors.Unwrap(se.err), se.err), again(se))
	case errors.As(err, &se):
		e.Kind = fault.STSUnavailable
		// The SDK's operation error wraps the cause; show the cause alone.
		e.Message = fmt.Sprintf("cannot reach STS %s (%v): check the network; %s", subject(name, se), cmp.Or(errors.Unwrap(se.err), se.err), again(se))
	}
	return e
}

// subject says what the failed STS call se was for: profile name, or, for
// a login, the MFA session of the source profile, whichever profile the
// user named.
func subject(name string, se *stsError) string {
	if se.mfa {
		return fmt.Sprintf("for the MFA login of profile %q", se.profile.Name)
	}
	return fmt.Sprintf("for profile %q", name)
}

// again says who tries the failed STS call se again: brokerd, or, for a
// login, which nothing retries, the user.
func again(se *stsError) string {
	if se.mfa {
		return fmt.Sprintf("once STS is reachable, run `brokerd login %s` again", se.profile.Name)
	}
	return "brokerd retries"
}

// classifySTS sets the kind, code and message of an error STS answered.
func classifySTS(e *fault.Error, se *stsError, api smithy.APIError) {
	status := 0
	var re *awshttp.ResponseError
	if errors.As(se.err, &re) {
		status = re.HTTPStatusCode()
	}
	e.Code = api.ErrorCode()
	msg := api.ErrorMessage()
	switch {
	case e.Code == "UnknownError" && notSTS(re):
		// The SDK's code for an error it cannot read: here an answer
		// that is not STS's, from a proxy that asks to sign in again, a
		// captive portal, a blocking page. It passes once the person
		// acts, and is no refusal of STS.
		e.Kind, e.Code = fault.STSUnavailable, "STSUnavailable"
		e.Message = fmt.Sprintf("STS's address answered the %s call for profile %q with HTTP %d%s, which is not STS's answer: a captive portal or a proxy is in the way: "+
			"sign in to the network in a browser (or check AWS_ENDPOINT_URL_STS and HTTPS_PROXY); %s", se.op, se.profile.Name, status, redirect(re), again(se))
		return
	case throttled(e.Code, status):
		// STS throttles with 400 (or 429), which the Go SDK takes as
		// final; every SDK retries what this becomes, a 503.
		e.Kind = fault.Throttled
	case status >= 500 || api.ErrorFault() == smithy.FaultServer && status == 0:
		e.Kind, e.Code = fault.STSUnavailable, "STSUnavailable"
	case strings.Contains(strings.ToLower(msg), "durationseconds") || strings.Contains(msg, "MaxSessionDuration"):
		e.Kind = fault.InvalidConfig
	default:
		e.Kind = fault.Refused
	}
	e.Message = fmt.Sprintf("STS %s for profile %q failed: %s: %s%s", se.op, se.profile.Name, api.ErrorCode(), msg, hint(se, api, e.Kind))
}

// notSTS reports whether re, an error answer below 500 (and not 429),
// cannot be STS's: a redirect, a proxy's 407, or a body that is not XML.
func notSTS(re *awshttp.ResponseError) bool {
	if re == nil || re.Response == nil {
		return false
	}
	status := re.HTTPStatusCode()
	if status >= 500 || status == http.StatusTooManyRequests {
		return false
	}
	media, _, _ := mime.ParseMediaType(re.Response.Header.Get("Content-Type"))
	return status/100 == 3 || status == http.StatusProxyAuthRequired || !strings.Contains(media, "xml")
}

// redirect names where re redirected to, by host: a portal's address may
// carry a token in its path or query.
func redirect(re *awshttp.ResponseError) string {
	if re == nil || re.Response == nil {
		return ""
	}
	if u, err := url.Parse(re.Response.Header.Get("Location")); err == nil && u.Host != "" {
		return " (a redirect to " + u.Host + ")"
	}
	return ""
}

// throttled reports whether STS refused a call for its rate limits.
func throttled(code string, status int) bool {
	switch code {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded":
		return true
	}
	return status == http.StatusTooManyRequests
}

// hint adds what to do for the STS errors a user can fix or wait out.
func hint(se *stsError, api smithy.APIError, kind fault.Kind) string {
	switch code := api.ErrorCode(); {
	case kind == fault.Throttled:
		return " (STS is throttling requests: try again in a moment)"
	case kind == fault.STSUnavailable && se.mfa:
		return fmt.Sprintf(" (STS is failing: run `brokerd login %s` again in a moment)", se.profile.Name)
	case kind == fault.STSUnavailable:
		return " (STS is failing: brokerd retries)"
	case kind == fault.InvalidConfig && strings.Contains(api.ErrorMessage(), "role chaining"):
		// A role assumed with another role's credentials, or an IAM
		// Identity Center profile's, lasts an hour at most, whatever
		// the role allows.
		return fmt.Sprintf(" (a role assumed from another role or from IAM Identity Center lasts 1h at most: set duration_seconds = 3600 or less for profile %q)", se.profile.Name)
	case kind == fault.InvalidConfig:
		return fmt.Sprintf(" (lower duration_seconds of profile %q to the role's maximum session duration)", se.profile.Name)
	case se.mfa && code == "AccessDenied":
		return fmt.Sprintf(" (wrong or already used MFA code: wait for the next code and run `brokerd login %s` again)", se.profile.Name)
	case se.ssoLogin != "" && (badKeys(code) || code == "ExpiredToken"):
		return fmt.Sprintf(" (the IAM Identity Center credentials of profile %q were refused: run `brokerd login %s`)", se.signer, se.ssoLogin)
	case se.session && (badKeys(code) || code == "ExpiredToken"):
		return fmt.Sprintf(" (the MFA session of profile %q is no longer valid: run `brokerd login %s`)", se.signer, se.signer)
	case badKeys(code):
		return fmt.Sprintf(" (the keychain's keys of profile %q are not valid: store current ones with `brokerd keys add %s --replace`)", se.signer, se.signer)
	case code == "AccessDenied" && se.op == "AssumeRole":
		return fmt.Sprintf(" (check that %s trusts your user and that your user may assume it)", se.profile.RoleARN)
	}
	return ""
}

// badKeys reports whether STS refused the credentials that signed a call.
func badKeys(code string) bool {
	return code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch"
}
