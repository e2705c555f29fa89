package cache_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerd/brokerd/fault"
)

// TestCache_Close checks that Close cancels the fetches under way, those
// of requests and background refreshes alike, and returns only once they
// have returned; and that a closed cache fetches no more.
func TestCache_Close(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		f.linger = time.Second // a fetch takes a second to return once cancelled
		c := newCache(t, clock, f, nil)
		mustGet(t, c, clock, "warm", 15*time.Minute)

		f.Gate("cold")
		f.Gate("warm")
		done := make(chan error, 1)
		go func() {
			_, err := c.Get(context.Background(), "cold") // a request that does not give up
			done <- err
		}()
		clock.Set(36 * time.Minute)
		mustGet(t, c, clock, "warm", 15*time.Minute) // due: starts a background refresh
		synctest.Wait()
		if got := f.Running(); got != 2 {
			t.Fatalf("fetches under way = %d, want 2", got)
		}

		c.Close()
		if got := f.Running(); got != 0 {
			t.Errorf("fetches under way after Close returned = %d, want 0", got)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Get(%q) under way at Close = %v, want its fetch's context.Canceled", "cold", err)
		}

		before := f.Total()
		_, err := c.Get(t.Context(), "other")
		if kind := fault.KindOf(err); kind != fault.Cancelled {
			t.Errorf("Get(%q) after Close = %v (kind %v), want kind %v", "other", err, kind, fault.Cancelled)
		}
		c.RefreshAll()
		c.RefreshDue()
		synctest.Wait()
		if got := f.Total() - before; got != 0 {
			t.Errorf("fetches after Close = %d, want 0", got)
		}
		c.Close() // twice is fine
	})
}
