package trim

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// The trim comes Delay after the last Busy, once for a burst, and never
// after Stop.
func TestIdle(t *testing.T) {
	clock := clockwork.NewFakeClock()
	var trims atomic.Int32
	i := NewIdle(clock, 10*time.Second, zap.NewNop())
	i.drop = func() (int, error) { trims.Add(1); return 1, nil }

	i.Busy()
	clock.Advance(6 * time.Second)
	i.Busy() // puts it off to 16 s
	clock.Advance(6 * time.Second)
	if n := trims.Load(); n != 0 {
		t.Fatalf("%d trims 6 s after the last Busy, want 0", n)
	}
	clock.Advance(4 * time.Second)
	waitFor(t, func() bool { return trims.Load() == 1 })

	i.Busy()
	i.Stop()
	clock.Advance(time.Minute)
	i.Busy()
	clock.Advance(time.Minute)
	time.Sleep(10 * time.Millisecond)
	if n := trims.Load(); n != 1 {
		t.Errorf("%d trims after Stop, want still 1", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
