package trim

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Each step advances the clock, then calls Started or Busy (or neither),
// then expects the trims so far.
type step struct {
	advance time.Duration
	call    string // "started", "busy" or ""
	trims   int32
}

func TestIdle(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"start-up alone is trimmed Gap later", []step{
			{0, "started", 0}, {9 * time.Second, "", 0}, {time.Second, "", 1}, {time.Hour, "", 1},
		}},
		{"work soon after start-up is trimmed at once, and start-up's timer is dropped", []step{
			{0, "started", 0}, {time.Second, "busy", 1}, {time.Hour, "", 1},
		}},
		{"lone fetches are each trimmed at once", []step{
			{0, "busy", 1}, {time.Hour, "busy", 2}, {10 * time.Second, "busy", 3}, {time.Hour, "", 3},
		}},
		{"a burst is trimmed at its first and Gap after its last", []step{
			{0, "busy", 1}, {2 * time.Second, "busy", 1}, {6 * time.Second, "busy", 1},
			{9 * time.Second, "", 1}, {time.Second, "", 2}, {time.Hour, "", 2},
		}},
		{"work Gap after the last trim is trimmed at once, not from the burst's timer", []step{
			{0, "busy", 1}, {5 * time.Second, "busy", 1}, {5 * time.Second, "busy", 2}, {time.Hour, "", 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			var trims atomic.Int32
			i := NewIdle(clock, 10*time.Second, zap.NewNop())
			i.drop = func() (int, error) { trims.Add(1); return 1, nil }
			defer i.Stop()
			for n, s := range tt.steps {
				clock.Advance(s.advance)
				switch s.call {
				case "started":
					i.Started()
				case "busy":
					i.Busy()
				}
				waitFor(t, func() bool { return trims.Load() >= s.trims })
				settle()
				if got := trims.Load(); got != s.trims {
					t.Fatalf("step %d: %d trims, want %d", n, got, s.trims)
				}
			}
		})
	}
}

// No trim starts after Stop, which waits for one under way.
func TestIdle_Stop(t *testing.T) {
	clock := clockwork.NewFakeClock()
	release := make(chan struct{})
	var trims atomic.Int32
	i := NewIdle(clock, 10*time.Second, zap.NewNop())
	i.drop = func() (int, error) { <-release; trims.Add(1); return 1, nil }

	i.Busy()
	i.Busy() // within Gap: arms the timer
	stopped := make(chan struct{})
	go func() { i.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned with a trim under way")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-stopped
	i.Busy()
	i.Started()
	clock.Advance(time.Hour)
	settle()
	if n := trims.Load(); n != 1 {
		t.Errorf("%d trims, want 1 (none after Stop)", n)
	}
}

// settle gives a timer's callback, which the fake clock runs in a
// goroutine of its own, time to make a trim it should not. It does not
// wait on i.wg: the callback may add to it meanwhile.
func settle() { time.Sleep(10 * time.Millisecond) }

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
