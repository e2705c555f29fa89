package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/brokerd/brokerd/cache"
)

// The tests run in synctest bubbles so that synctest.Wait can tell when the
// cache's background refreshes have finished (or were never started);
// expiry is judged on fakeClock, which only the test moves.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a wall clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t0+d.
func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	c.now = t0.Add(d)
	c.mu.Unlock()
}

// fakeSTS issues numbered credentials lasting lifetime from the clock's
// now, or fails with err.
type fakeSTS struct {
	clock    *fakeClock
	lifetime time.Duration

	mu    sync.Mutex
	calls map[string]int
	total int
	err   error
	// gate, when non-nil, holds each fetch of a profile in it until a value
	// is received from its channel or the channel is closed.
	gate map[string]chan struct{}
	// started, when non-nil, receives the profile of each fetch as it starts.
	started chan string
}

var _ cache.FetchFunc = (*fakeSTS)(nil).Fetch

func newSTS(clock *fakeClock) *fakeSTS {
	return &fakeSTS{clock: clock, lifetime: time.Hour, calls: map[string]int{}, gate: map[string]chan struct{}{}}
}

func (f *fakeSTS) Fetch(ctx context.Context, profile string) (cache.Credentials, error) {
	f.mu.Lock()
	f.calls[profile]++
	f.total++
	n, err, gate, started := f.total, f.err, f.gate[profile], f.started
	f.mu.Unlock()
	if started != nil {
		started <- profile
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return cache.Credentials{}, ctx.Err()
		}
	}
	if err != nil {
		return cache.Credentials{}, err
	}
	return cache.Credentials{
		Credentials: aws.Credentials{
			AccessKeyID:     keyID(n),
			SecretAccessKey: fmt.Sprintf("secret-%d", n),
			SessionToken:    fmt.Sprintf("token-%d", n),
			CanExpire:       true,
			Expires:         f.clock.Now().Add(f.lifetime),
		},
		RoleARN: "arn:aws:iam::123456789012:role/" + profile,
	}, nil
}

func keyID(n int) string { return fmt.Sprintf("ASIA%016d", n) }

func (f *fakeSTS) Calls(profile string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[profile]
}

func (f *fakeSTS) SetErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// Gate makes the profile's fetches wait on the returned channel.
func (f *fakeSTS) Gate(profile string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	f.gate[profile] = ch
	return ch
}

func (f *fakeSTS) Ungate(profile string) {
	f.mu.Lock()
	delete(f.gate, profile)
	f.mu.Unlock()
}

// newCache returns a cache over f with the default tunables, except a
// jitter of 1ns so that refresh times are exact: 1h credentials fetched at
// t0 are due for refresh from t0+35m and served alone until t0+45m.
func newCache(clock *fakeClock, f *fakeSTS, tweak func(*cache.Config)) *cache.Cache {
	cfg := cache.Config{Now: clock.Now, Jitter: time.Nanosecond}
	if tweak != nil {
		tweak(&cfg)
	}
	return cache.New(f.Fetch, cfg)
}

var errSTS = errors.New("STS said no")

func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

// mustGet gets credentials for profile and checks that they have more
// than minLeft left at the clock's time.
func mustGet(t *testing.T, c *cache.Cache, clock *fakeClock, profile string, minLeft time.Duration) cache.Credentials {
	t.Helper()
	got, err := c.Get(t.Context(), profile)
	if err != nil {
		t.Fatalf("Get(%q) at t0+%v: error %v, want credentials", profile, clock.Now().Sub(t0), err)
	}
	if left := got.Expires.Sub(clock.Now()); left <= minLeft {
		t.Fatalf("Get(%q) at t0+%v = credentials with %v left, want more than %v", profile, clock.Now().Sub(t0), left, minLeft)
	}
	return got
}

func TestCache_GetColdFetchesOnce(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)

		first := mustGet(t, c, clock, "dev", 15*time.Minute)
		second := mustGet(t, c, clock, "dev", 15*time.Minute)
		if got := f.Calls("dev"); got != 1 {
			t.Errorf("fetches after two Get(%q) = %d, want 1", "dev", got)
		}
		if first.AccessKeyID != keyID(1) || second.AccessKeyID != keyID(1) {
			t.Errorf("Get(%q) keys = %s, %s, want %s twice", "dev", first.AccessKeyID, second.AccessKeyID, keyID(1))
		}
		if first.RoleARN != "arn:aws:iam::123456789012:role/dev" {
			t.Errorf("Get(%q).RoleARN = %q, want the fetched one", "dev", first.RoleARN)
		}
	})
}

func TestCache_ConcurrentColdGetsFetchOnce(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		gate := f.Gate("dev")
		c := newCache(clock, f, nil)

		const n = 200
		var wg sync.WaitGroup
		keys := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				got, err := c.Get(t.Context(), "dev")
				keys[i], errs[i] = got.AccessKeyID, err
			})
		}
		// Every goroutine is now blocked: one in the fetch, the others
		// waiting for it.
		synctest.Wait()
		if got := f.Calls("dev"); got != 1 {
			t.Fatalf("fetches started by %d concurrent cold Get(%q) = %d, want 1", n, "dev", got)
		}
		close(gate)
		wg.Wait()
		if got := f.Calls("dev"); got != 1 {
			t.Errorf("fetches after %d concurrent cold Get(%q) = %d, want 1", n, "dev", got)
		}
		for i := range n {
			if errs[i] != nil || keys[i] != keyID(1) {
				t.Fatalf("Get(%q) #%d = %q, %v, want %q, nil", "dev", i, keys[i], errs[i], keyID(1))
			}
		}
	})
}

func TestCache_ProfilesDoNotBlockEachOther(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		gate := f.Gate("stuck")
		defer close(gate)
		c := newCache(clock, f, nil)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := c.Get(ctx, "stuck")
			done <- err
		}()
		synctest.Wait() // the fetch of "stuck" is under way and blocked

		mustGet(t, c, clock, "free", 15*time.Minute)
		select {
		case err := <-done:
			t.Fatalf("Get(%q) returned %v while its fetch was blocked", "stuck", err)
		default:
		}
		if got := f.Calls("stuck"); got != 1 {
			t.Errorf("fetches of %q = %d, want 1", "stuck", got)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Get(%q) after its request gave up = %v, want context.Canceled", "stuck", err)
		}
	})
}

func TestCache_AbandonedFetchServesNextRequest(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		gate := f.Gate("dev")
		c := newCache(clock, f, nil)

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.Get(ctx, "dev"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get(%q) with a canceled context = %v, want context.Canceled", "dev", err)
		}
		close(gate)
		synctest.Wait() // the fetch the request started goes on and finishes

		got := mustGet(t, c, clock, "dev", 15*time.Minute)
		if got.AccessKeyID != keyID(1) || f.Calls("dev") != 1 {
			t.Errorf("Get(%q) after an abandoned fetch = %s with %d fetches, want %s with 1", "dev", got.AccessKeyID, f.Calls("dev"), keyID(1))
		}
	})
}

func TestCache_ServedCredentialsHaveMinRemaining(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		minLeft  time.Duration // what every served credential must exceed
		maxCalls int           // fetches allowed over two hours of requests
	}{
		{"one hour", time.Hour, 15 * time.Minute, 6},
		{"twelve hours", 12 * time.Hour, 15 * time.Minute, 1},
		// Short-lived credentials keep a third of their lifetime and are
		// refreshed at half of it, not on every request.
		{"fifteen minutes", 15 * time.Minute, 5 * time.Minute, 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				f.lifetime = tt.lifetime
				c := newCache(clock, f, nil)

				requests := 0
				for d := time.Duration(0); d <= 2*time.Hour; d += 10 * time.Second {
					clock.Set(d)
					mustGet(t, c, clock, "dev", tt.minLeft)
					synctest.Wait() // let a background refresh finish
					requests++
				}
				if got := f.Calls("dev"); got > tt.maxCalls {
					t.Errorf("fetches for %d requests over 2h with %v credentials = %d, want at most %d", requests, tt.lifetime, got, tt.maxCalls)
				}
			})
		})
	}
}

func TestCache_RequestWaitsBelowMinRemaining(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		// No background refresh ran (no request, no RefreshDue) and 15m
		// are left: the request waits for new credentials.
		clock.Set(45 * time.Minute)
		got := mustGet(t, c, clock, "dev", 15*time.Minute)
		if got.AccessKeyID != keyID(2) {
			t.Errorf("Get(%q) with 15m left = %s, want the new %s", "dev", got.AccessKeyID, keyID(2))
		}
	})
}

func TestCache_BackgroundRefresh(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		clock.Set(34 * time.Minute)
		c.RefreshDue()
		synctest.Wait()
		if got := f.Calls("dev"); got != 1 {
			t.Fatalf("fetches after RefreshDue before refreshAt = %d, want 1", got)
		}

		gate := f.Gate("dev")
		clock.Set(35*time.Minute + time.Second)
		c.RefreshDue()
		synctest.Wait()
		if got := f.Calls("dev"); got != 2 {
			t.Fatalf("fetches after RefreshDue past refreshAt = %d, want 2", got)
		}

		// While the refresh is under way, requests get the old credentials
		// at once and start no other fetch.
		for range 3 {
			if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(1) {
				t.Fatalf("Get(%q) during a refresh = %s, want the old %s", "dev", got.AccessKeyID, keyID(1))
			}
		}
		c.RefreshDue()
		synctest.Wait()
		if got := f.Calls("dev"); got != 2 {
			t.Fatalf("fetches during a refresh = %d, want 2", got)
		}

		close(gate)
		synctest.Wait()
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(2) {
			t.Errorf("Get(%q) after the refresh = %s, want the new %s", "dev", got.AccessKeyID, keyID(2))
		}
		c.RefreshDue()
		synctest.Wait()
		if got := f.Calls("dev"); got != 2 {
			t.Errorf("fetches after RefreshDue right after a refresh = %d, want 2", got)
		}
	})
}

func TestCache_GetStartsDueRefresh(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		clock.Set(40 * time.Minute)
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(1) {
			t.Errorf("Get(%q) when due = %s, want the old %s at once", "dev", got.AccessKeyID, keyID(1))
		}
		synctest.Wait()
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(2) || f.Calls("dev") != 2 {
			t.Errorf("Get(%q) after the background refresh = %s with %d fetches, want %s with 2", "dev", got.AccessKeyID, f.Calls("dev"), keyID(2))
		}
	})
}

func TestCache_IdleProfileNotRefreshed(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 30 * time.Minute })
		mustGet(t, c, clock, "dev", 15*time.Minute)

		clock.Set(36 * time.Minute) // due, but unused for 36m
		c.RefreshDue()
		synctest.Wait()
		if got := f.Calls("dev"); got != 1 {
			t.Errorf("fetches after RefreshDue of a profile idle for 36m (IdleAfter 30m) = %d, want 1", got)
		}
	})
}

func TestCache_STSFailureServesLastGood(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)
		f.SetErr(errSTS)

		steps := []struct {
			at      time.Duration
			wantErr bool
		}{
			{36 * time.Minute, false},                // due: the background refresh fails
			{50 * time.Minute, false},                // 10m left: the request's fetch fails, old ones served
			{58*time.Minute + 30*time.Second, false}, // 90s left, more than MinValid
			{59*time.Minute + 30*time.Second, true},  // 30s left: the error
			{60 * time.Minute, true},                 // expired
			{3 * time.Hour, true},                    // long expired
		}
		for _, s := range steps {
			clock.Set(s.at)
			got, err := c.Get(t.Context(), "dev")
			synctest.Wait()
			now := clock.Now()
			if s.wantErr {
				if !errors.Is(err, errSTS) || got.AccessKeyID != "" {
					t.Errorf("Get(%q) at t0+%v = %q, %v, want no credentials and %v", "dev", s.at, got.AccessKeyID, err, errSTS)
				}
				continue
			}
			if err != nil || got.AccessKeyID != keyID(1) {
				t.Errorf("Get(%q) at t0+%v = %q, %v, want the last good %s", "dev", s.at, got.AccessKeyID, err, keyID(1))
			}
			if left := got.Expires.Sub(now); left <= time.Minute {
				t.Errorf("Get(%q) at t0+%v served credentials with %v left, want more than MinValid (1m)", "dev", s.at, left)
			}
		}

		// STS answers again: the next request gets new credentials.
		f.SetErr(nil)
		got := mustGet(t, c, clock, "dev", 15*time.Minute)
		if got.AccessKeyID == keyID(1) {
			t.Errorf("Get(%q) after STS recovered = the old %s, want new credentials", "dev", got.AccessKeyID)
		}
	})
}

// Once a refresh has failed, a request for credentials with less than
// MinRemaining left gets the last good ones at once instead of waiting on an
// STS that may hang for its whole timeout, longer than clients wait.
func TestCache_FailingSTSDoesNotHoldRequests(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		f.SetErr(errSTS)
		clock.Set(36 * time.Minute)
		c.RefreshDue()
		synctest.Wait() // the refresh failed

		gate := f.Gate("dev") // STS now hangs
		defer close(gate)
		for _, at := range []time.Duration{50 * time.Minute, 55 * time.Minute, 58 * time.Minute} {
			clock.Set(at)
			done := make(chan cache.Credentials, 1)
			go func() {
				got, err := c.Get(t.Context(), "dev")
				if err != nil {
					t.Errorf("Get(%q) at t0+%v = %v, want the last good credentials", "dev", at, err)
				}
				done <- got
			}()
			synctest.Wait()
			select {
			case got := <-done:
				if got.AccessKeyID != keyID(1) {
					t.Errorf("Get(%q) at t0+%v = %s, want the last good %s", "dev", at, got.AccessKeyID, keyID(1))
				}
			default:
				t.Fatalf("Get(%q) at t0+%v waits on a hanging STS, want the last good credentials at once", "dev", at)
			}
		}
		// The retry runs in the background, one at a time.
		if got := f.Calls("dev"); got != 3 {
			t.Errorf("fetches = %d, want 3 (the first, the failed refresh, one retry under way)", got)
		}
	})
}

func TestCache_BackoffAfterFailedRefresh(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, func(cfg *cache.Config) { cfg.RetryMin, cfg.RetryMax = 10*time.Second, 20*time.Second })
		mustGet(t, c, clock, "dev", 15*time.Minute)
		f.SetErr(errSTS)

		// t1 is when the first refresh fails; each failure n waits a random
		// time in [d/2, d] with d = min(RetryMin<<(n-1), RetryMax).
		t1 := 36 * time.Minute
		steps := []struct {
			at        time.Duration
			wantCalls int
		}{
			{t1, 2},                  // due: first refresh, fails; retry in [5s, 10s]
			{t1 + 4*time.Second, 2},  // too early
			{t1 + 10*time.Second, 3}, // second failure; retry in [10s, 20s]
			{t1 + 19*time.Second, 3}, // too early
			{t1 + 30*time.Second, 4}, // third failure; RetryMax caps: [10s, 20s]
			{t1 + 39*time.Second, 4}, // too early
			{t1 + 50*time.Second, 5}, // fourth failure
			{t1 + 59*time.Second, 5}, // too early
		}
		for _, s := range steps {
			clock.Set(s.at)
			c.RefreshDue()
			// A request with credentials to spare starts no refresh either.
			mustGet(t, c, clock, "dev", 15*time.Minute)
			synctest.Wait()
			if got := f.Calls("dev"); got != s.wantCalls {
				t.Fatalf("fetches after RefreshDue at t0+%v = %d, want %d", s.at, got, s.wantCalls)
			}
		}
		st := c.Statuses()
		if len(st) != 1 || st[0].Failures != 4 || !strings.Contains(st[0].LastError, errSTS.Error()) {
			t.Fatalf("Statuses() after 4 failures = %+v, want Failures 4 and LastError %q", st, errSTS)
		}
		if next, lo, hi := st[0].NextRefresh, t0.Add(t1+60*time.Second), t0.Add(t1+70*time.Second); next.Before(lo) || next.After(hi) {
			t.Errorf("Statuses()[0].NextRefresh = t0+%v, want the retry time in [t0+%v, t0+%v]", next.Sub(t0), lo.Sub(t0), hi.Sub(t0))
		}

		f.SetErr(nil)
		clock.Set(t1 + 70*time.Second)
		c.RefreshDue()
		synctest.Wait()
		st = c.Statuses()
		if f.Calls("dev") != 6 || st[0].Failures != 0 || st[0].LastError != "" {
			t.Errorf("after a successful retry: %d fetches, Statuses() = %+v, want 6 fetches, no failures, no error", f.Calls("dev"), st)
		}
	})
}

func TestCache_ForgetCallback(t *testing.T) {
	errUnknown := errors.New("no such profile")
	forget := func(err error) bool { return errors.Is(err, errUnknown) }
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, func(cfg *cache.Config) { cfg.Forget = forget })

		// Never had credentials, Forget says drop: gone.
		f.SetErr(errUnknown)
		if _, err := c.Get(t.Context(), "typo"); !errors.Is(err, errUnknown) {
			t.Fatalf("Get(%q) = %v, want %v", "typo", err, errUnknown)
		}
		// Never had credentials, Forget says keep: kept with its error.
		f.SetErr(errSTS)
		if _, err := c.Get(t.Context(), "down"); !errors.Is(err, errSTS) {
			t.Fatalf("Get(%q) = %v, want %v", "down", err, errSTS)
		}
		// Had credentials: kept whatever the error.
		f.SetErr(nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)
		f.SetErr(errUnknown)
		clock.Set(50 * time.Minute)
		mustGet(t, c, clock, "dev", time.Minute)

		var names []string
		for _, s := range c.Statuses() {
			names = append(names, s.Profile)
		}
		if got, want := strings.Join(names, ","), "dev,down"; got != want {
			t.Errorf("Statuses() profiles = %s, want %s", got, want)
		}
	})
}

// A profile with no credentials to serve answers a transient error at once
// until its retry is due, rather than calling STS on every request; other
// errors, which the user may just have fixed, are retried on each request.
func TestCache_TransientErrorWaitsForRetry(t *testing.T) {
	errDown := errors.New("STS is unreachable")
	transient := func(err error) bool { return errors.Is(err, errDown) }
	tests := []struct {
		name      string
		transient func(error) bool
		err       error
		had       bool // the profile had credentials, now expired
		wantCalls int  // fetches by the requests before the retry is due
	}{
		{"transient, never had credentials", transient, errDown, false, 1},
		{"transient, credentials expired", transient, errDown, true, 1},
		{"not transient", transient, errSTS, false, 3},
		{"no Transient callback", nil, errDown, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				// The first retry is due within [5s, 10s].
				c := newCache(clock, f, func(cfg *cache.Config) {
					cfg.Transient, cfg.RetryMin = tt.transient, 10*time.Second
				})
				var start time.Duration
				if tt.had {
					mustGet(t, c, clock, "dev", 15*time.Minute)
					start = time.Hour
				}
				before := f.Calls("dev")

				f.SetErr(tt.err)
				for _, d := range []time.Duration{0, time.Second, 4 * time.Second} {
					clock.Set(start + d)
					if got, err := c.Get(t.Context(), "dev"); !errors.Is(err, tt.err) || got.AccessKeyID != "" {
						t.Fatalf("Get(%q) at t0+%v = %q, %v, want no credentials and %v", "dev", start+d, got.AccessKeyID, err, tt.err)
					}
					synctest.Wait()
				}
				if got := f.Calls("dev") - before; got != tt.wantCalls {
					t.Errorf("fetches by 3 requests within 4s of a failure = %d, want %d", got, tt.wantCalls)
				}

				// STS answers again and the retry is due: the next request
				// fetches.
				f.SetErr(nil)
				clock.Set(start + 10*time.Second)
				mustGet(t, c, clock, "dev", 15*time.Minute)
				if got := f.Calls("dev") - before; got != tt.wantCalls+1 {
					t.Errorf("fetches after the retry was due = %d, want %d", got, tt.wantCalls+1)
				}
			})
		})
	}
}

// TestCache_TransientErrorHeldBriefly checks that after many failures,
// when the backoff has grown to minutes, a request without credentials
// still tries again RetryMin after the last failure, so that a recovery
// is noticed within seconds.
func TestCache_TransientErrorHeldBriefly(t *testing.T) {
	errDown := errors.New("STS is unreachable")
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, func(cfg *cache.Config) {
			cfg.Transient = func(err error) bool { return errors.Is(err, errDown) }
		})
		f.SetErr(errDown)
		var at time.Duration
		for range 6 { // the backoff grows to 2.5–5 minutes
			clock.Set(at)
			if _, err := c.Get(t.Context(), "dev"); !errors.Is(err, errDown) {
				t.Fatalf("Get at t0+%v = %v, want %v", at, err, errDown)
			}
			at += 6 * time.Second
		}
		calls := f.Calls("dev")
		if calls != 6 {
			t.Fatalf("fetches by 6 requests 6s apart = %d, want 6", calls)
		}
		f.SetErr(nil)
		clock.Set(at)
		mustGet(t, c, clock, "dev", 15*time.Minute)
		if got := f.Calls("dev"); got != calls+1 {
			t.Errorf("fetches after STS recovered = %d, want %d", got, calls+1)
		}
	})
}

func TestCache_Statuses(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		if got := c.Statuses(); len(got) != 0 {
			t.Fatalf("Statuses() of an empty cache = %+v, want none", got)
		}

		mustGet(t, c, clock, "prod", 15*time.Minute)
		f.SetErr(errSTS)
		if _, err := c.Get(t.Context(), "broken"); err == nil {
			t.Fatalf("Get(%q) = nil error, want %v", "broken", errSTS)
		}

		got := c.Statuses()
		want := []cache.Status{
			{Profile: "broken", LastError: errSTS.Error(), Failures: 1},
			{
				Profile:     "prod",
				RoleARN:     "arn:aws:iam::123456789012:role/prod",
				Expires:     t0.Add(time.Hour),
				LastRefresh: t0,
				NextRefresh: t0.Add(35 * time.Minute),
			},
		}
		if len(got) != len(want) {
			t.Fatalf("Statuses() = %+v, want %+v", got, want)
		}
		for i := range want {
			g := got[i]
			// The jitter of 1ns may move the next refresh by 1ns.
			if d := want[i].NextRefresh.Sub(g.NextRefresh); d >= 0 && d <= time.Nanosecond {
				g.NextRefresh = want[i].NextRefresh
			}
			if g != want[i] {
				t.Errorf("Statuses()[%d] = %+v, want %+v", i, g, want[i])
			}
		}
	})
}

func TestCache_RefreshForcesFetch(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		got, err := c.Refresh(t.Context(), "dev")
		if err != nil || got.AccessKeyID != keyID(2) {
			t.Fatalf("Refresh(%q) = %s, %v, want %s, nil", "dev", got.AccessKeyID, err, keyID(2))
		}
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(2) {
			t.Errorf("Get(%q) after Refresh = %s, want %s", "dev", got.AccessKeyID, keyID(2))
		}

		f.SetErr(errSTS)
		if _, err := c.Refresh(t.Context(), "dev"); !errors.Is(err, errSTS) {
			t.Errorf("Refresh(%q) while STS fails = %v, want %v", "dev", err, errSTS)
		}
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(2) {
			t.Errorf("Get(%q) after a failed Refresh = %s, want the last good %s", "dev", got.AccessKeyID, keyID(2))
		}
		if got := f.Calls("dev"); got != 3 {
			t.Errorf("fetches = %d, want 3", got)
		}
	})
}

func TestCache_Forget(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "a", 15*time.Minute)
		mustGet(t, c, clock, "b", 15*time.Minute)

		c.Forget(func(p string) bool { return p == "a" })
		st := c.Statuses()
		if len(st) != 1 || st[0].Profile != "b" {
			t.Fatalf("Statuses() after Forget(a) = %+v, want only b", st)
		}
		mustGet(t, c, clock, "a", 15*time.Minute)
		mustGet(t, c, clock, "b", 15*time.Minute)
		if f.Calls("a") != 2 || f.Calls("b") != 1 {
			t.Errorf("fetches after Forget(a) and Get of both = a:%d b:%d, want a:2 b:1", f.Calls("a"), f.Calls("b"))
		}

		c.Forget(func(string) bool { return true })
		if st := c.Statuses(); len(st) != 0 {
			t.Errorf("Statuses() after forgetting all = %+v, want none", st)
		}
	})
}

func TestCache_RejectsExpiredFetch(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		f.lifetime = 30 * time.Second // less than MinValid: as good as expired
		c := newCache(clock, f, nil)

		got, err := c.Get(t.Context(), "dev")
		if err == nil || !strings.Contains(err.Error(), "check the clock") {
			t.Errorf("Get(%q) of credentials expiring in 30s = %s, %v, want an error about the clock", "dev", got.AccessKeyID, err)
		}
	})
}

func TestCache_Run(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)
		clock.Set(36 * time.Minute)

		f.mu.Lock()
		f.started = make(chan string, 1)
		f.mu.Unlock()
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() {
			c.Run(ctx, 30*time.Second)
			close(stopped)
		}()
		// The bubble's time advances to Run's first tick, which refreshes.
		if got := <-f.started; got != "dev" {
			t.Errorf("Run refreshed %q, want %q", got, "dev")
		}
		cancel()
		<-stopped
	})
}

func TestCache_IdleExpiredProfileDropped(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 30 * time.Minute })
		mustGet(t, c, clock, "dev", 15*time.Minute)

		clock.Set(50 * time.Minute) // idle, still valid: kept
		c.RefreshDue()
		synctest.Wait()
		if got := len(c.Statuses()); got != 1 {
			t.Fatalf("profiles after RefreshDue of idle, valid credentials = %d, want 1", got)
		}
		clock.Set(61 * time.Minute) // idle and expired: dropped
		c.RefreshDue()
		synctest.Wait()
		if got := c.Statuses(); len(got) != 0 {
			t.Errorf("Statuses() after RefreshDue of idle, expired credentials = %+v, want none", got)
		}
		if got := f.Calls("dev"); got != 1 {
			t.Errorf("fetches = %d, want 1 (idle profiles are not refreshed)", got)
		}
	})
}

func TestCache_RefreshAll(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, nil)
		before := map[string]cache.Credentials{}
		for _, p := range []string{"dev", "prod"} {
			before[p] = mustGet(t, c, clock, p, 15*time.Minute)
		}

		// Not due for 30 minutes, yet refreshed at once.
		c.RefreshAll()
		synctest.Wait()
		after := map[string]cache.Credentials{}
		for _, p := range []string{"dev", "prod"} {
			after[p] = mustGet(t, c, clock, p, 15*time.Minute)
			if after[p].AccessKeyID == before[p].AccessKeyID || f.Calls(p) != 2 {
				t.Errorf("Get(%q) after RefreshAll = %s with %d fetches, want new credentials from a second fetch", p, after[p].AccessKeyID, f.Calls(p))
			}
		}

		// A failed refresh keeps what the cache holds.
		f.SetErr(errSTS)
		c.RefreshAll()
		synctest.Wait()
		if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != after["dev"].AccessKeyID || f.Calls("dev") != 3 {
			t.Errorf("Get(%q) after a failed RefreshAll = %s with %d fetches, want the kept %s after 3", "dev", got.AccessKeyID, f.Calls("dev"), after["dev"].AccessKeyID)
		}
	})
}

// TestCache_RefreshAllSetsAsideFetchUnderWay checks that a refresh under
// way when RefreshAll is called, which may use the config file from
// before, does not record its outcome: the one RefreshAll starts does.
func TestCache_RefreshAllSetsAsideFetchUnderWay(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantFailures int
	}{
		{"both succeed", nil, 0},
		{"both fail", errSTS, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(clock, f, nil)
				mustGet(t, c, clock, "dev", 15*time.Minute)

				f.SetErr(tt.err)
				gate := f.Gate("dev")
				clock.Set(36 * time.Minute) // due: Get starts fetch 2
				mustGet(t, c, clock, "dev", 15*time.Minute)
				synctest.Wait()
				c.RefreshAll() // fetch 3
				synctest.Wait()
				if got := f.Calls("dev"); got != 3 {
					t.Fatalf("fetches under way = %d, want 3", got)
				}
				f.Ungate("dev")
				close(gate)
				synctest.Wait()

				st := c.Statuses()[0]
				if st.Failures != tt.wantFailures {
					t.Errorf("failures recorded = %d, want %d (fetch 2 set aside)", st.Failures, tt.wantFailures)
				}
				if got := mustGet(t, c, clock, "dev", 15*time.Minute); tt.err == nil && got.AccessKeyID != keyID(3) {
					t.Errorf("Get after both fetches = %s, want %s from the fetch RefreshAll started", got.AccessKeyID, keyID(3))
				}
			})
		})
	}
}

func TestCache_RefreshAllLeavesIdleForLater(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 10 * time.Minute })
		mustGet(t, c, clock, "dev", 15*time.Minute)

		clock.Set(20 * time.Minute) // idle, credentials still good
		c.RefreshAll()
		synctest.Wait()
		if got := f.Calls("dev"); got != 1 {
			t.Fatalf("fetches after RefreshAll of an idle profile = %d, want 1", got)
		}
		mustGet(t, c, clock, "dev", 15*time.Minute) // asked again: refreshed
		synctest.Wait()
		if got := f.Calls("dev"); got != 2 {
			t.Errorf("fetches after the idle profile was asked for = %d, want 2", got)
		}
	})
}

func TestCache_FetchPanics(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := cache.New(func(context.Context, string) (cache.Credentials, error) { panic("a bug") }, cache.Config{})
		_, err := c.Get(t.Context(), "dev")
		if err == nil || !strings.Contains(err.Error(), "bug") {
			t.Errorf("Get with a fetch that panics = %v, want an error that says brokerd hit a bug", err)
		}
	})
}
