package cache_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/brokerd/brokerd/cache"
)

// startRun runs c.Run until the test ends.
func startRun(t *testing.T, c *cache.Cache) context.CancelFunc {
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return cancel
}

func TestCache_RunEmptyArmsNoTimer(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
		startRun(t, c)

		synctest.Wait() // Run is blocked
		if got := clock.Timers(); len(got) != 0 {
			t.Fatalf("timers armed by Run over an empty cache = %v, want none", got)
		}
		time.Sleep(10 * time.Hour)
		synctest.Wait()
		if got := clock.Timers(); len(got) != 0 {
			t.Errorf("timers armed by Run over an empty cache in 10h = %v, want none", got)
		}
		if got := f.Total(); got != 0 {
			t.Errorf("fetches by Run over an empty cache in 10h = %d, want 0", got)
		}
	})
}

// TestCache_RunRefreshesAtRefreshAt checks that Run, woken by the first
// fetch of a profile, sleeps in steps of at most 5m until the profile is
// due and refreshes it then, with no request asking.
func TestCache_RunRefreshesAtRefreshAt(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
		startRun(t, c)
		synctest.Wait()

		mustGet(t, c, clock, "dev", 15*time.Minute) // due from t0+35m (-1ns of jitter)
		synctest.Wait()                             // Run woke and armed a timer
		if got := clock.Timers(); len(got) != 1 || got[0] != 5*time.Minute {
			t.Fatalf("timers armed by Run after a first fetch = %v, want one of 5m (the most it sleeps)", got)
		}

		started := f.Started()
		if got := <-started; got != "dev" {
			t.Fatalf("Run refreshed %q, want %q", got, "dev")
		}
		times := f.Times()
		if at, lo, hi := times[1], t0.Add(35*time.Minute-time.Nanosecond), t0.Add(35*time.Minute); at.Before(lo) || at.After(hi) {
			t.Errorf("Run refreshed at t0+%v, want at refreshAt, t0+35m", at.Sub(t0))
		}
		for _, d := range clock.Timers() {
			if d > 5*time.Minute {
				t.Errorf("Run armed a timer of %v, want at most 5m", d)
			}
		}
		// That Run refreshes once, not more, is TestCache_RunDoesNotSpin's
		// to check.
		synctest.Wait()
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID == keyID(1) {
			t.Errorf("Get(%q) after Run's refresh = the old %s, want new credentials", "dev", got.AccessKeyID)
		}
	})
}

// TestCache_RunRetriesFailedRefresh checks that Run sleeps until the retry
// of a failed refresh is due, then retries.
func TestCache_RunRetriesFailedRefresh(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)
		clock.Set(35 * time.Minute)
		f.SetErr(errDown)
		started := f.Started()
		startRun(t, c)

		<-started // the refresh at refreshAt, which fails
		f.SetErr(nil)
		<-started // its retry
		times := f.Times()
		if gap := times[2].Sub(times[1]); gap < 2500*time.Millisecond || gap > 5*time.Second {
			t.Errorf("Run retried %v after a failed refresh, want within [2.5s, 5s]", gap)
		}
		synctest.Wait()
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(3) {
			t.Errorf("Get(%q) after the retry = %s, want %s", "dev", got.AccessKeyID, keyID(3))
		}
	})
}

// TestCache_RunDropsIdleProfile checks that Run wakes when idle credentials
// expire, drops them, and then sleeps without a timer.
func TestCache_RunDropsIdleProfile(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 30 * time.Minute })
		mustGet(t, c, clock, "dev", 15*time.Minute)
		startRun(t, c)

		time.Sleep(61 * time.Minute)
		synctest.Wait()
		if st := c.Statuses(); len(st) != 0 {
			t.Errorf("Statuses() 61m after the only request = %+v, want none", st)
		}
		armed := len(clock.Timers())
		time.Sleep(10 * time.Hour)
		synctest.Wait()
		if got := len(clock.Timers()) - armed; got != 0 {
			t.Errorf("timers armed by Run in 10h after the cache emptied = %d, want 0", got)
		}
		if got := f.Total(); got != 1 {
			t.Errorf("fetches = %d, want 1 (an idle profile is not refreshed)", got)
		}
	})
}

// TestCache_RunDoesNotSpin checks that Run blocks while nothing is due:
// while a refresh it started is under way, it waits for the refresh to
// record its outcome; while a profile in use has expired credentials and
// its retry is pending, it waits for the retry.
func TestCache_RunDoesNotSpin(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS)
	}{
		{"refresh under way", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			mustGet(t, c, clock, "dev", 15*time.Minute)
			clock.Set(35 * time.Minute)
			f.Gate("dev") // the refresh Run starts hangs
		}},
		{"credentials expired, retry pending", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			mustGet(t, c, clock, "dev", 15*time.Minute)
			f.SetErr(errDown)
			clock.Set(61 * time.Minute)
			c.Get(t.Context(), "dev") // fails: retry in [2.5s, 5s]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(t, clock, f, nil)
				tt.setup(t, c, clock, f)

				// Stop Run if it spins, so that the test ends.
				const most = 100
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				clock.mu.Lock()
				clock.onTimer = func(n int, _ time.Duration) {
					if n > most {
						cancel()
					}
				}
				clock.mu.Unlock()
				stopped := make(chan struct{})
				go func() {
					c.Run(ctx)
					close(stopped)
				}()
				synctest.Wait() // Run is blocked, or spun until stopped
				if n := len(clock.Timers()); n > most {
					t.Errorf("Run armed more than %d timers with nothing due, want it to block", most)
				}
				cancel()
				<-stopped
			})
		})
	}
}

func TestCache_RefreshDueReturnsNext(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS)
		lo, hi time.Duration // the time returned, from t0; zero for none
		bug    string        // why the case is skipped
	}{
		{"empty", nil, 0, 0, ""},
		{"fresh credentials: refreshAt", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			mustGet(t, c, clock, "dev", 15*time.Minute)
		}, 35*time.Minute - time.Nanosecond, 35 * time.Minute, ""},
		{"refresh failed: the retry", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			mustGet(t, c, clock, "dev", 15*time.Minute)
			f.SetErr(errDown)
			clock.Set(36 * time.Minute)
			c.RefreshDue()
			synctest.Wait()
		}, 36*time.Minute + 2500*time.Millisecond, 36*time.Minute + 5*time.Second, ""},
		{"idle, credentials valid: their expiry", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			f.lifetime = 12 * time.Hour
			mustGet(t, c, clock, "dev", 15*time.Minute)
			clock.Set(3 * time.Hour) // unused for more than IdleAfter (2h)
		}, 12 * time.Hour, 12 * time.Hour, ""},
		{"credentials expired, retry pending: the retry", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			mustGet(t, c, clock, "dev", 15*time.Minute)
			f.SetErr(errDown)
			clock.Set(61 * time.Minute)
			c.Get(t.Context(), "dev") // fails: retry in [2.5s, 5s]
		}, 61*time.Minute + 2500*time.Millisecond, 61*time.Minute + 5*time.Second, ""},
		{"no credentials, in use: when it goes idle", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			f.SetErr(errDown)
			c.Get(t.Context(), "dev")
			clock.Set(time.Minute)
		}, 2 * time.Hour, 2 * time.Hour, ""},
		{"soonest of two profiles", func(t *testing.T, c *cache.Cache, clock *fakeClock, f *fakeSTS) {
			mustGet(t, c, clock, "dev", 15*time.Minute)
			clock.Set(10 * time.Minute)
			mustGet(t, c, clock, "prod", 15*time.Minute)
		}, 35*time.Minute - time.Nanosecond, 35 * time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip(tt.bug)
			}
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(t, clock, f, nil)
				if tt.setup != nil {
					tt.setup(t, c, clock, f)
				}
				next := c.RefreshDue()
				synctest.Wait()
				if tt.hi == 0 {
					if !next.IsZero() {
						t.Errorf("RefreshDue() = t0+%v, want zero", next.Sub(t0))
					}
					return
				}
				if lo, hi := t0.Add(tt.lo), t0.Add(tt.hi); next.Before(lo) || next.After(hi) {
					t.Errorf("RefreshDue() = t0+%v, want in [t0+%v, t0+%v]", next.Sub(t0), tt.lo, tt.hi)
				}
			})
		})
	}
}
