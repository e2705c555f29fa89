package cache_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
)

// TestCache_Patience has STS hang on a cold profile: each request waits at
// most Patience and gets a transient error saying the fetch goes on; the
// one fetch is not repeated for them, and once it ends the next request
// gets its result. A forced refresh waits for the fetch whatever its length.
func TestCache_Patience(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var fetches atomic.Int32
		fetch := func(ctx context.Context, profile string) (creds.Credentials, error) {
			fetches.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
				return creds.Credentials{}, ctx.Err()
			}
			return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: "ASIA0000000000000001", SecretAccessKey: "s", SessionToken: "t",
				CanExpire: true, Expires: time.Now().Add(time.Hour)}}, nil
		}
		c := cache.New(fetch, cache.Config{Clock: clockwork.NewRealClock(), Patience: time.Second})
		defer c.Close()

		for i := range 3 {
			start := time.Now()
			_, err := c.Get(t.Context(), "prod")
			if waited := time.Since(start); waited != time.Second {
				t.Errorf("Get %d waited %v for a hanging fetch, want the patience, 1s", i+1, waited)
			}
			if fault.KindOf(err) != fault.STSUnavailable || !strings.Contains(err.Error(), "still being fetched") {
				t.Errorf("Get %d with a hanging fetch = %v, want STSUnavailable saying the fetch goes on", i+1, err)
			}
		}
		if n := fetches.Load(); n != 1 {
			t.Errorf("%d fetches for 3 requests during one hanging fetch, want 1", n)
		}

		close(release)
		synctest.Wait()
		s, err := c.Get(t.Context(), "prod")
		if err != nil || s.AccessKeyID != "ASIA0000000000000001" {
			t.Errorf("Get after the fetch ended = %v, %v; want its credentials", s.AccessKeyID, err)
		}
		if n := fetches.Load(); n != 1 {
			t.Errorf("%d fetches, want the one that hung", n)
		}
	})
}

// TestCache_PatienceNotForRefresh checks that a forced refresh, which a
// person asked for, waits for the fetch past the requests' patience.
func TestCache_PatienceNotForRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fetch := func(ctx context.Context, profile string) (creds.Credentials, error) {
			time.Sleep(5 * time.Second)
			return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: "ASIA0000000000000002", SecretAccessKey: "s", SessionToken: "t",
				CanExpire: true, Expires: time.Now().Add(time.Hour)}}, nil
		}
		c := cache.New(fetch, cache.Config{Clock: clockwork.NewRealClock(), Patience: time.Second})
		defer c.Close()
		start := time.Now()
		s, err := c.Refresh(t.Context(), "prod")
		if err != nil || s.AccessKeyID != "ASIA0000000000000002" {
			t.Errorf("Refresh = %v, %v; want the credentials fetched", s.AccessKeyID, err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("Refresh waited %v, want the fetch's 5s", waited)
		}
	})
}
