package keychain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/zalando/go-keyring"
)

// SSOService is the keychain service name of IAM Identity Center tokens:
// per session, its access and refresh tokens and client registration.
const SSOService = "brokerd-sso"

// SSOTokens keeps IAM Identity Center tokens in the keychain, one item per
// session under SSOService, and nowhere else. It implements sso.Store.
type SSOTokens struct{ s *Store }

// SSO returns the store of IAM Identity Center tokens.
func (s *Store) SSO() SSOTokens { return SSOTokens{s} }

// A session's blob is one item, SSOService/KEY, unless the keychain
// refuses an item that big: the macOS Keychain, through go-keyring, takes
// about 3,000 bytes, and a real session's client secret, access token and
// refresh token come to over 4,000. Then the blob is cut into parts of
// partSize bytes, stored as SSOService/KEY#1, KEY#2, …, and the item KEY
// holds only {"brokerdParts": N}, written last. A brokerd that predates
// parts reads that as a blob without a token, and asks for a sign-in.
const partSize = 1500

// parts is the content of a session's item when its blob is in parts.
type parts struct {
	N int `json:"brokerdParts"`
}

func partUser(key string, i int) string { return key + "#" + strconv.Itoa(i) }

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
	var p parts
	if json.Unmarshal([]byte(blob), &p) != nil || p.N <= 0 {
		return []byte(blob), nil
	}
	var whole []byte
	for i := 1; i <= p.N; i++ {
		part, err := t.s.get(ctx, SSOService, partUser(key, i))
		if errors.Is(err, ErrNotFound) {
			return nil, nil // a part lost: nobody signed in
		}
		if err != nil {
			return nil, fmt.Errorf("read the SSO token of session %q (part %d of %d): %w", key, i, p.N, err)
		}
		whole = append(whole, part...)
	}
	return whole, nil
}

// Set stores blob, a JSON object, for session key, replacing any other:
// in one item, or in parts when the keychain refuses one that big.
func (t SSOTokens) Set(ctx context.Context, key string, blob []byte) error {
	if !json.Valid(blob) {
		return fmt.Errorf("store the SSO token of session %q: not JSON", key)
	}
	if measureItems && macOSCommandLen(SSOService, key, string(blob)) > macOSCommandMax {
		return t.setParts(ctx, key, blob)
	}
	err := t.s.setJSON(ctx, SSOService, key, json.RawMessage(blob))
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return t.setParts(ctx, key, blob)
	}
	if err != nil {
		return fmt.Errorf("store the SSO token of session %q: %w", key, err)
	}
	return t.deleteParts(ctx, key, 1) // the parts of an earlier blob
}

// setParts stores blob in parts, then the item that names them, then
// deletes the parts of an earlier, longer blob.
func (t SSOTokens) setParts(ctx context.Context, key string, blob []byte) error {
	n := 0
	for rest := blob; len(rest) > 0; {
		cut := min(partSize, len(rest))
		for cut < len(rest) && cut > 1 && !utf8.RuneStart(rest[cut]) {
			cut--
		}
		n++
		part := string(rest[:cut])
		user := partUser(key, n)
		if err := t.s.write(ctx, SSOService, user, func() error { return t.s.backend.Set(SSOService, user, part) }); err != nil {
			return fmt.Errorf("store the SSO token of session %q (part %d): %w", key, n, err)
		}
		rest = rest[cut:]
	}
	if err := t.s.setJSON(ctx, SSOService, key, parts{N: n}); err != nil {
		return fmt.Errorf("store the SSO token of session %q: %w", key, err)
	}
	return t.deleteParts(ctx, key, n+1)
}

// deleteParts deletes the parts of key from part from on, up to the
// first that is not there.
func (t SSOTokens) deleteParts(ctx context.Context, key string, from int) error {
	for i := from; ; i++ {
		user := partUser(key, i)
		err := t.s.write(ctx, SSOService, user, func() error { return t.s.backend.Delete(SSOService, user) })
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove the SSO token of session %q (part %d): %w", key, i, err)
		}
	}
}

// Delete removes the blob of session key, and its parts; none stored is
// no error.
func (t SSOTokens) Delete(ctx context.Context, key string) error {
	err := t.s.write(ctx, SSOService, key, func() error { return t.s.backend.Delete(SSOService, key) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove the SSO token of session %q: %w", key, err)
	}
	return t.deleteParts(ctx, key, 1)
}
