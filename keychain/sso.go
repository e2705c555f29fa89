package keychain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// SSOService is the keychain service name of IAM Identity Center tokens:
// per session, its access and refresh tokens and client registration.
const SSOService = "brokerd-sso"

// SSOTokens keeps IAM Identity Center tokens in the keychain, one item per
// session under SSOService, and nowhere else. It implements sso.Store.
type SSOTokens struct{ s *Store }

// SSO returns the store of IAM Identity Center tokens.
func (s *Store) SSO() SSOTokens { return SSOTokens{s} }

// Get returns the blob stored for session key as it is, or nil and no
// error when there is none. sso reads it: a blob damaged, or written by
// another program, asks for a sign-in there, which replaces it.
func (t SSOTokens) Get(ctx context.Context, key string) ([]byte, error) {
	blob, err := t.s.get(ctx, SSOService, key)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the SSO token of session %q: %w", key, err)
	}
	return []byte(blob), nil
}

// Set stores blob, a JSON object, for session key, replacing any other.
func (t SSOTokens) Set(ctx context.Context, key string, blob []byte) error {
	if !json.Valid(blob) {
		return fmt.Errorf("store the SSO token of session %q: not JSON", key)
	}
	if err := t.s.setJSON(ctx, SSOService, key, json.RawMessage(blob)); err != nil {
		return fmt.Errorf("store the SSO token of session %q: %w", key, err)
	}
	return nil
}

// Delete removes the blob of session key; none stored is no error.
func (t SSOTokens) Delete(ctx context.Context, key string) error {
	err := t.s.write(ctx, SSOService, key, func() error { return t.s.backend.Delete(SSOService, key) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove the SSO token of session %q: %w", key, err)
	}
	return nil
}
