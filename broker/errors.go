package broker

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
)

// Error is a failure to get credentials, with the HTTP status and code the
// endpoint answers with and a message that tells a person what to do.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string     { return e.Message }
func (e *Error) Unwrap() error     { return e.Err }
func (e *Error) HTTPStatus() int   { return e.Status }
func (e *Error) ErrorCode() string { return e.Code }

// stsError is an STS call that failed.
type stsError struct {
	op      string
	profile profile.Profile // the profile the call was for
	signer  string          // the source profile whose keys, or MFA session, signed it
	session bool            // signed with signer's MFA session, not its keys
	mfa     bool            // called with an MFA code
	err     error
}

func (e *stsError) Error() string {
	return fmt.Sprintf("STS %s for profile %q: %v", e.op, e.profile.Name, e.err)
}
func (e *stsError) Unwrap() error { return e.err }

// keysError is a failure to read the keys of a source profile.
type keysError struct {
	profile string
	err     error
}

func (e *keysError) Error() string { return e.err.Error() }
func (e *keysError) Unwrap() error { return e.err }

// classify turns err into an *Error for profile name.
func classify(name string, err error) *Error {
	e := &Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: err.Error(), Err: err}
	var api smithy.APIError
	var se *stsError
	var le *loginError
	switch {
	case errors.Is(err, profile.ErrNotFound):
		e.Status, e.Code = http.StatusNotFound, "ProfileNotFound"
		e.Message = fmt.Sprintf("profile %q is not in the AWS config file and has no keys in the keychain: add a [profile %s] section with role_arn and source_profile, or run `brokerd keys add %s`", name, name, name)
	case errors.Is(err, keychain.ErrNotFound):
		e.Status, e.Code = http.StatusNotFound, "NoKeys"
		src := name
		var ke *keysError
		if errors.As(err, &ke) {
			src = ke.profile
		}
		e.Message = fmt.Sprintf("no keys for profile %q in the keychain: run `brokerd keys add %s`", src, src)
	case errors.Is(err, profile.ErrInvalid):
		e.Code = "InvalidConfig"
	case errors.As(err, &le):
		e.Status, e.Code = http.StatusUnauthorized, "LoginRequired"
		e.Message = fmt.Sprintf("profile %q needs an MFA login (%s): run: brokerd login %s", name, le.Error(), le.source)
	case errors.Is(err, keychain.ErrLocked):
		e.Status, e.Code = http.StatusServiceUnavailable, "KeychainLocked"
		e.Message = keychain.ErrLocked.Error()
	case errors.Is(err, keychain.ErrUnavailable), errors.Is(err, keychain.ErrTimeout):
		e.Status, e.Code = http.StatusServiceUnavailable, "KeychainUnavailable"
	case errors.As(err, &api) && errors.As(err, &se):
		e.Status, e.Code = http.StatusBadGateway, api.ErrorCode()
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 400 {
			e.Status = re.HTTPStatusCode()
		}
		throttle := throttled(api.ErrorCode(), e.Status)
		if throttle {
			// STS throttles with 400 (or 429), which the Go SDK takes
			// as final; every SDK retries a 5xx.
			e.Status = http.StatusServiceUnavailable
		}
		e.Message = fmt.Sprintf("STS %s for profile %q failed: %s: %s%s", se.op, se.profile.Name, api.ErrorCode(), api.ErrorMessage(), hint(se, api, throttle))
	case errors.As(err, &se):
		e.Status, e.Code = http.StatusServiceUnavailable, "STSUnavailable"
		// The SDK's operation error wraps the cause; show the cause alone.
		e.Message = fmt.Sprintf("cannot reach STS for profile %q (%v): check the network; brokerd retries", name, cmp.Or(errors.Unwrap(se.err), se.err))
	}
	return e
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
func hint(se *stsError, api smithy.APIError, throttled bool) string {
	msg := api.ErrorMessage()
	switch {
	case throttled:
		return " (STS is throttling requests: try again in a moment)"
	case se.mfa && api.ErrorCode() == "AccessDenied":
		return fmt.Sprintf(" (wrong or already used MFA code: wait for the next code and run `brokerd login %s` again)", se.profile.Name)
	case se.session && (badKeys(api.ErrorCode()) || api.ErrorCode() == "ExpiredToken"):
		return fmt.Sprintf(" (the MFA session of profile %q is no longer valid: run `brokerd login %s`)", se.signer, se.signer)
	case badKeys(api.ErrorCode()):
		return fmt.Sprintf(" (the keychain's keys of profile %q are not valid: store current ones with `brokerd keys add %s`)", se.signer, se.signer)
	case strings.Contains(msg, "DurationSeconds") || strings.Contains(msg, "MaxSessionDuration"):
		return fmt.Sprintf(" (lower duration_seconds of profile %q to the role's maximum session duration)", se.profile.Name)
	case api.ErrorCode() == "AccessDenied" && se.op == "AssumeRole":
		return fmt.Sprintf(" (check that %s trusts your user and that your user may assume it)", se.profile.RoleARN)
	}
	return ""
}

// badKeys reports whether STS refused the credentials that signed a call.
func badKeys(code string) bool {
	return code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch"
}
