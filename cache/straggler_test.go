package cache_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
)

// A request that finds no credentials and then reaches the fetch just after
// the one in flight finished must take its credentials, not fetch again.
// The window is a few instructions wide, so the test runs many bursts whose
// requests arrive spread over the fetch; it needs more than one CPU to
// catch a regression.
func TestCache_StaggeredColdGetsFetchOnce(t *testing.T) {
	const rounds, n = 1000, 100
	for round := range rounds {
		var fetches atomic.Int32
		c := cache.New(func(context.Context, string) (creds.Credentials, error) {
			fetches.Add(1)
			for range 20 {
				runtime.Gosched()
			}
			return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: "ASIA1", CanExpire: true, Expires: time.Now().Add(time.Hour)}}, nil
		}, cache.Config{})
		var wg sync.WaitGroup
		for range n {
			delay := rand.IntN(60)
			wg.Go(func() {
				for range delay {
					runtime.Gosched()
				}
				if _, err := c.Get(context.Background(), "dev"); err != nil {
					t.Errorf("Get(%q) = %v", "dev", err)
				}
			})
		}
		wg.Wait()
		c.Close()
		if got := fetches.Load(); got != 1 {
			t.Fatalf("round %d: fetches for %d staggered cold Get(%q) = %d, want 1", round, n, "dev", got)
		}
	}
}

// The same for a fetch that fails: a request that looked before the failure
// was recorded and reaches the fetch after it must take the stored error,
// not fetch again, so that a failing profile is fetched once per retry
// window however many clients ask.
func TestCache_StaggeredColdFailuresFetchOnce(t *testing.T) {
	const rounds, n = 1000, 100
	errDown := fault.New(fault.STSUnavailable, "STS is unreachable")
	for round := range rounds {
		var fetches atomic.Int32
		c := cache.New(func(context.Context, string) (creds.Credentials, error) {
			fetches.Add(1)
			for range 20 {
				runtime.Gosched()
			}
			return creds.Credentials{}, errDown
		}, cache.Config{})
		var wg sync.WaitGroup
		for range n {
			delay := rand.IntN(60)
			wg.Go(func() {
				for range delay {
					runtime.Gosched()
				}
				if _, err := c.Get(context.Background(), "dev"); err != errDown {
					t.Errorf("Get(%q) = %v, want %v", "dev", err, errDown)
				}
			})
		}
		wg.Wait()
		c.Close()
		if got := fetches.Load(); got != 1 {
			t.Fatalf("round %d: fetches for %d staggered cold Get(%q) failing with %v = %d, want 1", round, n, "dev", errDown, got)
		}
	}
}

// A request that found a profile due and starts its refresh just after
// the refresh under way recorded new credentials must not refresh again.
// Requests keep coming while the refresh runs, so the window is met a few
// times in a hundred refreshes.
func TestCache_ConcurrentGetsRefreshOnce(t *testing.T) {
	const rounds, clients = 200, 8
	for round := range rounds {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
		if _, err := c.Get(context.Background(), "dev"); err != nil {
			t.Fatalf("Get(%q) = %v", "dev", err)
		}
		clock.Set(36 * time.Minute) // due
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for !stop.Load() {
					if _, err := c.Get(context.Background(), "dev"); err != nil {
						t.Errorf("Get(%q) = %v", "dev", err)
						return
					}
				}
			})
		}
		// Until the refresh is recorded, and a little longer.
		for c.Statuses()[0].LastRefresh.Before(t0.Add(36 * time.Minute)) {
			runtime.Gosched()
		}
		time.Sleep(time.Millisecond)
		stop.Store(true)
		wg.Wait()
		c.Close()
		if got := f.Calls("dev"); got != 2 {
			t.Fatalf("round %d: fetches for a due profile under %d clients' requests = %d, want 2 (the first and one refresh)", round, clients, got)
		}
	}
}
