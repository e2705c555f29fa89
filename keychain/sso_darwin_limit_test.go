package keychain_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/brokerd/brokerd/keychain"
)

// darwinBackend is a fakeBackend that refuses what go-keyring's macOS
// backend refuses: it writes the item through `security -i`, whose command
// line, the secret base64'd with a prefix and quoted, may not exceed 4096
// bytes (go-keyring v0.2.8, keyring_darwin.go: ErrSetDataTooBig).
type darwinBackend struct{ *fakeBackend }

var _ keychain.Backend = darwinBackend{}

func (b darwinBackend) Set(service, user, secret string) error {
	if keychain.MacOSCommandLen(service, user, secret) > keychain.MacOSCommandMax {
		return keyring.ErrSetDataTooBig
	}
	return b.fakeBackend.Set(service, user, secret)
}

// realSSORecord is the record sso stores for a session, with values as
// long as IAM Identity Center's: a client secret of about 1,900
// characters (a signed "eyJraWQi…" token), access and refresh tokens of
// about 1,100 ("aoaAAAAA…", "aorAAAAA…"), as ~/.aws/sso/cache holds them.
func realSSORecord(t *testing.T, tag string) []byte {
	t.Helper()
	blob, err := json.Marshal(map[string]any{
		"startUrl":              "https://d-1234567890.awsapps.com/start",
		"region":                "eu-west-1",
		"accessToken":           "aoaAAAAAG" + strings.Repeat("a", 1100) + tag,
		"expiresAt":             time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		"refreshToken":          "aorAAAAAG" + strings.Repeat("r", 1100) + tag,
		"clientId":              "2mRdXlPpGzZ7sbL9AbcDeWV1LWVhc3QtMQ",
		"clientSecret":          "eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0." + strings.Repeat("s", 1850),
		"registrationExpiresAt": time.Date(2027, 2, 21, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// TestSSOTokens_MacOSItemLimit checks that a real session's record, which
// the macOS Keychain refuses as one item, is stored in parts that each
// fit, read back whole, and that parts are removed when a smaller record
// replaces it, or the session is signed out.
func TestSSOTokens_MacOSItemLimit(t *testing.T) {
	for _, key := range []string{"my-sso", "https://d-1234567890.awsapps.com/start"} {
		t.Run(key, func(t *testing.T) {
			b := darwinBackend{newBackend()}
			tokens := keychain.New(b).SSO()
			ctx := t.Context()

			big := realSSORecord(t, "1")
			if n := keychain.MacOSCommandLen(keychain.SSOService, key, string(big)); n <= keychain.MacOSCommandMax {
				t.Fatalf("a real session's record makes a command of %d bytes, want over macOS's 4096: the test measures nothing", n)
			}
			if err := tokens.Set(ctx, key, big); err != nil {
				t.Fatalf("Set(%q, a real record of %d bytes) = %v", key, len(big), err)
			}
			b.mu.Lock()
			stored := len(b.items)
			for k, v := range b.items {
				if strings.Contains(k[1], "#") && (strings.Contains(v, "{") && strings.Contains(v, "brokerdParts")) {
					t.Errorf("part %s holds the list of parts", k[1])
				}
			}
			b.mu.Unlock()
			if stored < 3 {
				t.Errorf("Set stored %d items, want the list of parts and at least 2 parts", stored)
			}
			got, err := tokens.Get(ctx, key)
			if err != nil || string(got) != string(big) {
				t.Fatalf("Get(%q) = %d bytes, %v, want the record of %d bytes as stored", key, len(got), err, len(big))
			}

			// A refresh stores a new record over it.
			big2 := realSSORecord(t, "2")
			if err := tokens.Set(ctx, key, big2); err != nil {
				t.Fatalf("Set(%q) again = %v", key, err)
			}
			if got, err := tokens.Get(ctx, key); err != nil || string(got) != string(big2) {
				t.Errorf("Get(%q) after a refresh = %d bytes, %v, want the new record", key, len(got), err)
			}
			if n := b.Len(); n != stored {
				t.Errorf("after a refresh %d items are stored, want %d", n, stored)
			}

			// A record that fits in one item (a legacy session, without a
			// refresh token) leaves no parts behind.
			small := []byte(`{"startUrl":"https://d-1234567890.awsapps.com/start","accessToken":"aoa-secret"}`)
			if err := tokens.Set(ctx, key, small); err != nil {
				t.Fatalf("Set(%q, small) = %v", key, err)
			}
			if got, err := tokens.Get(ctx, key); err != nil || string(got) != string(small) {
				t.Errorf("Get(%q) = %q, %v, want the small record", key, got, err)
			}
			if n := b.Len(); n != 1 {
				t.Errorf("after a small record %d items are stored, want 1", n)
			}

			if err := tokens.Set(ctx, key, big); err != nil {
				t.Fatal(err)
			}
			if err := tokens.Delete(ctx, key); err != nil {
				t.Fatalf("Delete(%q) = %v", key, err)
			}
			if n := b.Len(); n != 0 {
				t.Errorf("after Delete %d items are stored, want none", n)
			}
			if got, err := tokens.Get(ctx, key); got != nil || err != nil {
				t.Errorf("Get(%q) after Delete = %d bytes, %v, want nil, nil", key, len(got), err)
			}
		})
	}
}

// TestSSOTokens_PartLost checks that a record whose part is missing reads
// as no sign-in, not as a damaged token.
func TestSSOTokens_PartLost(t *testing.T) {
	b := darwinBackend{newBackend()}
	tokens := keychain.New(b).SSO()
	if err := tokens.Set(t.Context(), "my-sso", realSSORecord(t, "1")); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	delete(b.items, [2]string{keychain.SSOService, "my-sso#2"})
	b.mu.Unlock()
	if got, err := tokens.Get(t.Context(), "my-sso"); got != nil || err != nil {
		t.Errorf("Get(my-sso) with a part lost = %d bytes, %v, want nil, nil", len(got), err)
	}
}
