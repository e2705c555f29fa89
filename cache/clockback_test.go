package cache_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/cache"
)

// TestCache_ClockSetBackEndsRetryWindow checks that a retry window opened
// while the wall clock ran ahead (a laptop that booted with its clock
// hours off) ends within RetryMax once the clock is set back, rather than
// when the clock reaches it again: until then every request got the
// stored error, though nothing failed any more.
func TestCache_ClockSetBackEndsRetryWindow(t *testing.T) {
	tests := []struct {
		name string
		had  bool // the profile had credentials, run out since
	}{
		{"never had credentials", false},
		{"credentials ran out", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(t, clock, f, nil)
				ahead := 2 * time.Hour
				if tt.had {
					clock.Set(-time.Hour) // they expire at t0
					mustGet(t, c, clock, "dev", 15*time.Minute)
				}
				clock.Set(ahead)
				f.SetErr(errDown)
				if _, err := c.Get(t.Context(), "dev"); !errors.Is(err, errDown) {
					t.Fatalf("Get(%q) with STS down = %v, want %v", "dev", err, errDown)
				}
				f.SetErr(nil)
				var at time.Duration
				for ; at <= 2*time.Minute; at += time.Second {
					clock.Set(at)
					if _, err := c.Get(t.Context(), "dev"); err == nil {
						break
					}
					c.RefreshDue()
				}
				if at > time.Minute {
					t.Errorf("first credentials %v after the clock was set back %v, want within RetryMax (1m)", at, ahead)
				}
			})
		})
	}
}

// TestCache_ClockSetBackLogsFailures checks that failure lines go on once
// the wall clock is set back: the limiter's windows were judged from a time
// still hours ahead, and held every line back until the clock reached it.
func TestCache_ClockSetBackLogsFailures(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		core, logs := observer.New(zapcore.InfoLevel)
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.Log = zap.New(core) })
		f.SetErr(errDown)
		for _, at := range []time.Duration{2 * time.Hour, 0, 20 * time.Second} {
			clock.Set(at)
			if _, err := c.Refresh(t.Context(), "dev"); !errors.Is(err, errDown) {
				t.Fatalf("Refresh(%q) at t0+%v = %v, want %v", "dev", at, err, errDown)
			}
		}
		if got := logs.FilterMessage("refresh failed").Len(); got != 3 {
			t.Errorf("failure lines at t0+2h, then t0 and t0+20s = %d, want 3", got)
		}
	})
}

// TestCache_ClockSetBackIdle checks that a profile last asked for while
// the wall clock ran ahead goes idle IdleAfter after the clock was set
// back, not as much later as the clock ran ahead: its last use, hours
// in the future, kept it refreshing in the background all that time.
func TestCache_ClockSetBackIdle(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil) // IdleAfter 2h, credentials of 1h
		clock.Set(2 * time.Hour)        // ahead
		mustGet(t, c, clock, "dev", 15*time.Minute)
		clock.Set(0) // set back
		c.RefreshDue()
		// Due (its credentials, from t0+2h, are refreshed from t0+2h35m),
		// and unused for 2h40m since the clock was set back.
		clock.Set(2*time.Hour + 40*time.Minute)
		c.RefreshDue()
		synctest.Wait()
		if got := f.Calls("dev"); got != 1 {
			t.Errorf("fetches of a profile last asked for 2h ahead, 2h40m after the clock was set back (IdleAfter 2h) = %d, want 1", got)
		}
	})
}
