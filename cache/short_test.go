package cache_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
)

// TestCache_TellsShortLifetimeOnce serves credentials that last under 45
// minutes, which the cache serves with under 15 minutes left at times: they
// are served, and the log says why SDKs will refetch, once per profile.
func TestCache_TellsShortLifetimeOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lifetime := map[string]time.Duration{"short": 15 * time.Minute, "hour": time.Hour}
		fetch := func(ctx context.Context, profile string) (creds.Credentials, error) {
			return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: "ASIA0000000000000003", SecretAccessKey: "s", SessionToken: "t",
				CanExpire: true, Expires: time.Now().Add(lifetime[profile])}}, nil
		}
		core, logs := observer.New(zap.WarnLevel)
		c := cache.New(fetch, cache.Config{Clock: clockwork.NewRealClock(), Log: zap.New(core)})
		defer c.Close()
		for range 3 {
			for _, p := range []string{"short", "hour"} {
				if _, err := c.Refresh(t.Context(), p); err != nil {
					t.Fatalf("Refresh(%q) = %v", p, err)
				}
			}
		}
		if s, err := c.Get(t.Context(), "short"); err != nil || s.AccessKeyID == "" {
			t.Errorf("Get(short) = %v, %v; want short-lived credentials served all the same", s.AccessKeyID, err)
		}
		lines := logs.FilterMessageSnippet("short-lived").All()
		if len(lines) != 1 {
			t.Fatalf("%d short-lived lines after 3 refreshes each of a 15m and a 1h profile, want 1: %v", len(lines), lines)
		}
		f := lines[0].ContextMap()
		if f["profile"] != "short" || !strings.Contains(f["fix"].(string), "duration_seconds = 2700 or more for profile short") {
			t.Errorf("short-lived line has fields %v, want profile short and the fix", f)
		}
	})
}
