package cache_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/wire"
)

// TestCache_BodyIsServedCredentials checks that the body served with
// credentials is the endpoint's JSON for those same credentials, with the
// expiry in UTC with a Z whatever the zone the fetch gave it in, from Get
// and from Refresh.
func TestCache_BodyIsServedCredentials(t *testing.T) {
	tests := []struct {
		name string
		zone *time.Location
	}{
		{"UTC", time.UTC},
		{"east of UTC", time.FixedZone("CET", 3600)},
		{"west of UTC", time.FixedZone("PST", -8*3600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				f.zone = tt.zone
				c := newCache(t, clock, f, nil)

				got := mustGet(t, c, clock, "dev", 15*time.Minute)
				checkBody(t, "Get", got, "2026-03-01T13:00:00Z")
				refreshed, err := c.Refresh(t.Context(), "dev")
				if err != nil {
					t.Fatalf("Refresh(%q) = %v, want credentials", "dev", err)
				}
				checkBody(t, "Refresh", refreshed, "2026-03-01T13:00:00Z")
				if again := mustGet(t, c, clock, "dev", 15*time.Minute); string(again.Body) != string(refreshed.Body) {
					t.Errorf("Get(%q) after Refresh: body %s, want Refresh's %s", "dev", again.Body, refreshed.Body)
				}
			})
		})
	}
}

func checkBody(t *testing.T, op string, s cache.Served, wantExpiration string) {
	t.Helper()
	var got wire.Credentials
	dec := json.NewDecoder(strings.NewReader(string(s.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%s(%q).Body = %s: %v, want wire.Credentials", op, "dev", s.Body, err)
	}
	want := wire.Credentials{
		AccessKeyID:     s.AccessKeyID,
		SecretAccessKey: s.SecretAccessKey,
		Token:           s.SessionToken,
		Expiration:      wantExpiration,
		AccountID:       s.AccountID,
		RoleArn:         s.RoleARN,
	}
	if got != want {
		t.Errorf("%s(%q).Body = %+v, want %+v", op, "dev", got, want)
	}
	if exp, err := time.Parse(time.RFC3339, got.Expiration); err != nil || !exp.Equal(s.Expires) {
		t.Errorf("%s(%q).Body Expiration %q = %v, %v, want %v", op, "dev", got.Expiration, exp, err, s.Expires)
	}
	if s.SecretAccessKey == "" || s.SessionToken == "" || s.AccountID == "" || s.RoleARN == "" {
		t.Errorf("%s(%q) = %+v, want every field set", op, "dev", s.Credentials)
	}
}

// TestCache_GetWarmAllocatesNothing checks that serving what the cache
// holds, the path of nearly every request, allocates nothing.
func TestCache_GetWarmAllocatesNothing(t *testing.T) {
	clock := newClock()
	f := newSTS(clock)
	c := newCache(t, clock, f, nil)
	mustGet(t, c, clock, "dev", 15*time.Minute)

	ctx := t.Context()
	var err error
	allocs := testing.AllocsPerRun(1000, func() { _, err = c.Get(ctx, "dev") })
	if err != nil {
		t.Fatalf("Get(%q) = %v, want credentials", "dev", err)
	}
	if allocs != 0 {
		t.Errorf("Get(%q) on a warm cache: %v allocations, want 0", "dev", allocs)
	}
	if got := f.Calls("dev"); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
}

func BenchmarkCache_GetWarm(b *testing.B) {
	clock := newClock()
	f := newSTS(clock)
	c := newCache(b, clock, f, nil)
	ctx := context.Background()
	if _, err := c.Get(ctx, "dev"); err != nil {
		b.Fatalf("Get(%q) = %v, want credentials", "dev", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get(ctx, "dev"); err != nil {
			b.Fatalf("Get(%q) = %v, want credentials", "dev", err)
		}
	}
}
