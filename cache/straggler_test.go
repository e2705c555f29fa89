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
		c := cache.New(func(context.Context, string) (cache.Credentials, error) {
			fetches.Add(1)
			for range 20 {
				runtime.Gosched()
			}
			return cache.Credentials{Credentials: aws.Credentials{AccessKeyID: "ASIA1", CanExpire: true, Expires: time.Now().Add(time.Hour)}}, nil
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
		if got := fetches.Load(); got != 1 {
			t.Fatalf("round %d: fetches for %d staggered cold Get(%q) = %d, want 1", round, n, "dev", got)
		}
	}
}
