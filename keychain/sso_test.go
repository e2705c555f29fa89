package keychain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/keychain"
)

func TestSSOTokens_RoundTrip(t *testing.T) {
	b := newBackend()
	tokens := keychain.New(b).SSO()
	ctx := t.Context()

	if blob, err := tokens.Get(ctx, "my-sso"); blob != nil || err != nil {
		t.Fatalf("Get(my-sso) with nothing stored = %q, %v, want nil, nil", blob, err)
	}
	const blob = `{"accessToken":"aoa-secret","refreshToken":"aor-secret"}`
	if err := tokens.Set(ctx, "my-sso", []byte(blob)); err != nil {
		t.Fatalf("Set(my-sso) = %v", err)
	}
	got, err := tokens.Get(ctx, "my-sso")
	if err != nil || string(got) != blob {
		t.Errorf("Get(my-sso) = %q, %v, want %q", got, err, blob)
	}
	// Its own service, apart from keys and MFA sessions; a legacy
	// session's key is its start URL.
	if v, ok := b.items[[2]string{keychain.SSOService, "my-sso"}]; !ok || v != blob {
		t.Errorf("keychain item %s/my-sso = %q, %v, want the blob", keychain.SSOService, v, ok)
	}
	if err := tokens.Set(ctx, "https://corp.awsapps.com/start", []byte(`{}`)); err != nil {
		t.Errorf("Set(start URL) = %v", err)
	}
	if err := tokens.Delete(ctx, "my-sso"); err != nil {
		t.Fatalf("Delete(my-sso) = %v", err)
	}
	if got, err := tokens.Get(ctx, "my-sso"); got != nil || err != nil {
		t.Errorf("Get(my-sso) after Delete = %q, %v, want nil, nil", got, err)
	}
	if err := tokens.Delete(ctx, "my-sso"); err != nil {
		t.Errorf("Delete(my-sso) of nothing = %v, want nil", err)
	}
	if err := tokens.Set(ctx, "x", []byte("not json")); err == nil {
		t.Error("Set(x, not JSON) = nil, want an error")
	}
}

func TestSSOTokens_Errors(t *testing.T) {
	b := newBackend()
	tokens := keychain.New(b).SSO()
	ctx := t.Context()
	b.mu.Lock()
	b.items[[2]string{keychain.SSOService, "damaged"}] = "aoa-secret-not-json"
	b.mu.Unlock()
	// A damaged item is given as it is, to sso, which asks for a sign-in
	// (sso's TestToken_LoginRequired): an error here was a 500 to SDKs.
	if blob, err := tokens.Get(ctx, "damaged"); err != nil || string(blob) != "aoa-secret-not-json" {
		t.Errorf("Get(damaged) = %v, want the item as it is", err)
	}
	b.err = errors.New("the name org.freedesktop.secrets was not provided by any .service files")
	for _, err := range []error{
		func() error { _, err := tokens.Get(ctx, "s"); return err }(),
		tokens.Set(ctx, "s", []byte(`{"accessToken":"aoa-secret"}`)),
		tokens.Delete(ctx, "s"),
	} {
		if !errors.Is(err, keychain.ErrUnavailable) || strings.Contains(err.Error(), "aoa-secret") {
			t.Errorf("call with no Secret Service = %v, want ErrUnavailable without secrets", err)
		}
	}
}
