package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/brokerd/brokerd/fault"
)

var errSentinel = errors.New("sentinel")

func TestKindOf_CodeOf(t *testing.T) {
	refused := &fault.Error{Kind: fault.Refused, Code: "ExpiredToken", Message: "the session expired"}
	tests := []struct {
		name     string
		err      error
		wantKind fault.Kind
		wantCode string
	}{
		{"nil", nil, fault.Internal, ""},
		{"plain", errors.New("boom"), fault.Internal, ""},
		{"context", context.Canceled, fault.Internal, ""},
		{"fault", fault.New(fault.NotFound, "no profile %q", "x"), fault.NotFound, ""},
		{"fault with code", refused, fault.Refused, "ExpiredToken"},
		{"wrapped with %w", fmt.Errorf("assume role: %w", refused), fault.Refused, "ExpiredToken"},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", fault.New(fault.Throttled, "slow down"))), fault.Throttled, ""},
		{"wrapped with %v", fmt.Errorf("lost: %v", refused), fault.Internal, ""},
		{"joined", errors.Join(errors.New("x"), fault.New(fault.KeychainLocked, "locked")), fault.KeychainLocked, ""},
		// The first fault in the chain decides, so a layer can reclassify.
		{"fault around fault", fault.Wrap(fault.STSUnavailable, fmt.Errorf("retry: %w", refused)), fault.STSUnavailable, ""},
		{"fault of a sentinel", fault.Wrap(fault.NoKeys, errSentinel), fault.NoKeys, ""},
	}
	for _, tt := range tests {
		if got := fault.KindOf(tt.err); got != tt.wantKind {
			t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.wantKind)
		}
		if got := fault.CodeOf(tt.err); got != tt.wantCode {
			t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.wantCode)
		}
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		name string
		err  *fault.Error
		want string
	}{
		{"message", fault.New(fault.NotFound, "no profile %q", "dev"), `no profile "dev"`},
		{"message of the wrapped error", fault.Wrap(fault.KeychainUnavailable, errSentinel), "sentinel"},
		{"own message first", &fault.Error{Kind: fault.Internal, Message: "mine", Err: errSentinel}, "mine"},
		{"nothing", &fault.Error{}, ""},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: (%#v).Error() = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
	wrapped := fmt.Errorf("read keychain item %q: %w", "dev", fault.Wrap(fault.KeychainLocked, errSentinel))
	if !errors.Is(wrapped, errSentinel) {
		t.Errorf("errors.Is(%v, errSentinel) = false, want true through Unwrap", wrapped)
	}
	var e *fault.Error
	if !errors.As(wrapped, &e) || e.Kind != fault.KeychainLocked {
		t.Errorf("errors.As(%v, *fault.Error) = %v, want the KeychainLocked error", wrapped, e)
	}
}

func TestKind_Transient(t *testing.T) {
	transient := map[fault.Kind]bool{
		fault.KeychainLocked:      true,
		fault.KeychainUnavailable: true,
		fault.STSUnavailable:      true,
		fault.Throttled:           true,
	}
	for k := fault.Internal; k <= fault.Cancelled; k++ {
		if got := k.Transient(); got != transient[k] {
			t.Errorf("%v.Transient() = %v, want %v", k, got, transient[k])
		}
	}
	if fault.Kind(99).Transient() {
		t.Errorf("Kind(99).Transient() = true, want false")
	}
}

func TestKind_String(t *testing.T) {
	tests := []struct {
		kind fault.Kind
		want string
	}{
		{fault.Internal, "Internal"},
		{fault.NotFound, "NotFound"},
		{fault.NoKeys, "NoKeys"},
		{fault.InvalidConfig, "InvalidConfig"},
		{fault.InvalidInput, "InvalidInput"},
		{fault.Unsupported, "Unsupported"},
		{fault.LoginRequired, "LoginRequired"},
		{fault.Forbidden, "Forbidden"},
		{fault.KeychainLocked, "KeychainLocked"},
		{fault.KeychainUnavailable, "KeychainUnavailable"},
		{fault.STSUnavailable, "STSUnavailable"},
		{fault.Throttled, "Throttled"},
		{fault.Refused, "Refused"},
		{fault.Cancelled, "Cancelled"},
		{fault.Cancelled + 1, fmt.Sprintf("Kind(%d)", int(fault.Cancelled+1))},
		{fault.Kind(99), "Kind(99)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
}
