package daemon

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/profile"
)

// newTestService returns a service over w without the HTTP servers; load
// may count config loads (nil: profile.Load).
func newTestService(t *testing.T, w *world, load func(string) (*profile.Config, error)) *service {
	t.Helper()
	clock := clockwork.NewRealClock()
	b := broker.New(w.keys, broker.Config{ConfigPath: w.config, Load: load, Sessions: w.keys, Clock: clock})
	c := cache.New(b.Fetch, cache.Config{Clock: clock, Epoch: b.ConfigEpoch})
	t.Cleanup(func() { c.Close(); b.Close() })
	return &service{cache: c, broker: b, keys: w.keys, clock: clock, log: zap.NewNop(), started: clock.Now()}
}

func TestService_SettleGathersABurst(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := &service{clock: clock}
	ch := make(chan struct{}, 1)
	done := make(chan bool)
	go func() { done <- s.settle(t.Context(), ch) }()
	// Requests 100 ms apart keep it waiting; the two-second bound ends it.
	for range 19 {
		clock.BlockUntilContext(t.Context(), 2)
		ch <- struct{}{}
		clock.Advance(100 * time.Millisecond)
	}
	clock.BlockUntilContext(t.Context(), 2)
	clock.Advance(100 * time.Millisecond)
	if !<-done {
		t.Error("settle() = false, want true after the burst")
	}
}
