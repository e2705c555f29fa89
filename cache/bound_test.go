package cache_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
)

// TestCache_BoundedWhileKeychainFails asks for thousands of distinct names
// while the keychain fails, so that none can be told apart from a profile
// that exists: the entries they leave, each an error and a retry window,
// stay bounded, and a profile with credentials stays.
func TestCache_BoundedWhileKeychainFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fetch := func(ctx context.Context, profile string) (creds.Credentials, error) {
			if profile == "dev" {
				return okCredentials(), nil
			}
			return creds.Credentials{}, fault.New(fault.KeychainUnavailable, "no keychain service is reachable")
		}
		c := cache.New(fetch, cache.Config{Clock: clockwork.NewRealClock()})
		defer c.Close()
		if _, err := c.Get(t.Context(), "dev"); err != nil {
			t.Fatalf("Get(dev) = %v", err)
		}
		for i := range 5000 {
			if _, err := c.Get(t.Context(), fmt.Sprintf("nosuch-%d", i)); fault.KindOf(err) != fault.KeychainUnavailable {
				t.Fatalf("Get(nosuch-%d) = %v, want KeychainUnavailable", i, err)
			}
		}
		st := c.Statuses()
		if len(st) > 1025 {
			t.Errorf("the cache holds %d profiles after 5000 distinct names failed, want at most 1025", len(st))
		}
		kept := false
		for _, s := range st {
			kept = kept || s.Profile == "dev" && !s.Expires.IsZero()
		}
		if !kept {
			t.Errorf("the credentials of dev were dropped to make room")
		}
	})
}

// okCredentials lasts an hour from now.
func okCredentials() creds.Credentials {
	return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: "ASIA0000000000000004", SecretAccessKey: "s", SessionToken: "t",
		CanExpire: true, Expires: time.Now().Add(time.Hour)}}
}
