// Package fault provides brokerd's errors as kinds: what went wrong, in
// words a person can act on, without saying how any protocol answers it.
// The cache decides retries by kind; the HTTP edges map kinds to statuses
// in one table (package httperr).
package fault

import (
	"errors"
	"fmt"
)

// Kind is what kind of failure an error is.
type Kind int

// The kinds. Internal is the zero value: a bug, or a cause not classified.
const (
	Internal            Kind = iota
	NotFound                 // no such profile (or path)
	NoKeys                   // the profile's source has no keys in the keychain
	InvalidConfig            // the AWS config file is malformed for this profile
	InvalidInput             // a request, name, code or duration that cannot be right
	Unsupported              // a kind of source brokerd does not serve
	LoginRequired            // an MFA or SSO login is needed first
	Forbidden                // the caller may not have this (a scoped token)
	KeychainLocked           // the keychain is locked
	KeychainUnavailable      // the keychain does not answer
	STSUnavailable           // STS cannot be reached, timed out or failed (5xx)
	Throttled                // STS refused for its rate limits
	Refused                  // STS refused the call (AccessDenied, bad keys, expired token)
	Cancelled                // the request was cancelled (client left, daemon stopping)
)

var names = [...]string{"Internal", "NotFound", "NoKeys", "InvalidConfig", "InvalidInput", "Unsupported",
	"LoginRequired", "Forbidden", "KeychainLocked", "KeychainUnavailable", "STSUnavailable", "Throttled", "Refused", "Cancelled"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Transient reports whether a retry soon may succeed with nothing changed
// by the user: STS or the keychain unavailable, throttling.
func (k Kind) Transient() bool {
	switch k {
	case KeychainLocked, KeychainUnavailable, STSUnavailable, Throttled:
		return true
	}
	return false
}

// Error is a failure of a kind, with a message a person can act on.
type Error struct {
	Kind Kind
	// Code names the failure more precisely than its kind, such as STS's
	// own error code ("AccessDenied"); empty means the kind's code.
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Message == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k whose message is err's.
func Wrap(k Kind, err error) *Error { return &Error{Kind: k, Err: err} }

// KindOf returns the kind of the first *Error in err's chain, Internal when
// there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// CodeOf returns the specific code of err, "" when it has none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
