package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// The tests run in synctest bubbles so that synctest.Wait can tell when the
// cache's background refreshes have finished (or were never started);
// expiry is judged on fakeClock, which the test sets.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a wall clock that the test sets, and that runs on from the
// time set with the real clock, which in a bubble is the bubble's: time
// stands still until every goroutine in the bubble is blocked, and then
// jumps to the next timer. Its timers are the real clock's, so Now and
// the timers Run arms agree.
type fakeClock struct {
	clockwork.Clock

	mu    sync.Mutex
	at    time.Time // the time set
	setAt time.Time // the real time when it was set
	// timers are the durations of the timers armed, in order.
	timers []time.Duration
	// onTimer, when non-nil, is called with each timer armed and the
	// number armed so far.
	onTimer func(n int, d time.Duration)
}

var _ clockwork.Clock = (*fakeClock)(nil)

func newClock() *fakeClock {
	return &fakeClock{Clock: clockwork.NewRealClock(), at: t0, setAt: time.Now()}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at.Add(time.Since(c.setAt))
}

func (c *fakeClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *fakeClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// Set moves the clock to t0+d.
func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	c.at, c.setAt = t0.Add(d), time.Now()
	c.mu.Unlock()
}

func (c *fakeClock) NewTimer(d time.Duration) clockwork.Timer {
	c.mu.Lock()
	c.timers = append(c.timers, d)
	n, hook := len(c.timers), c.onTimer
	c.mu.Unlock()
	if hook != nil {
		hook(n, d)
	}
	return c.Clock.NewTimer(d)
}

// Timers returns the durations of the timers armed so far.
func (c *fakeClock) Timers() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.timers...)
}

// fakeSTS issues numbered credentials lasting lifetime from the clock's
// now, or fails with err.
type fakeSTS struct {
	clock    *fakeClock
	lifetime time.Duration
	// zone, when non-nil, is the location of the expiry times issued.
	zone *time.Location
	// delay is how long a fetch takes; linger how long it takes to
	// return once its context ends.
	delay, linger time.Duration

	mu      sync.Mutex
	calls   map[string]int
	times   []time.Time // when each fetch started
	total   int
	running int
	err     error
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

func (f *fakeSTS) Fetch(ctx context.Context, profile string) (creds.Credentials, error) {
	now := f.clock.Now()
	f.mu.Lock()
	f.calls[profile]++
	f.total++
	f.running++
	f.times = append(f.times, now)
	n, err, gate, started := f.total, f.err, f.gate[profile], f.started
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if started != nil {
		started <- profile
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			time.Sleep(f.linger)
			return creds.Credentials{}, ctx.Err()
		}
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if err != nil {
		return creds.Credentials{}, err
	}
	expires := f.clock.Now().Add(f.lifetime)
	if f.zone != nil {
		expires = expires.In(f.zone)
	}
	return creds.Credentials{
		Credentials: aws.Credentials{
			AccessKeyID:     keyID(n),
			SecretAccessKey: fmt.Sprintf("secret-%d", n),
			SessionToken:    fmt.Sprintf("token-%d", n),
			CanExpire:       true,
			Expires:         expires,
			AccountID:       "123456789012",
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

// Total returns the number of fetches of every profile.
func (f *fakeSTS) Total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// Running returns the number of fetches that have not returned.
func (f *fakeSTS) Running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

// Times returns when each fetch started.
func (f *fakeSTS) Times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

func (f *fakeSTS) SetErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// Started makes each fetch send its profile on the returned channel as it
// starts.
func (f *fakeSTS) Started() chan string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = make(chan string, 1)
	return f.started
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
// t0 are due for refresh from t0+35m and served alone until t0+45m. The
// cache is closed when the test ends.
func newCache(t testing.TB, clock *fakeClock, f *fakeSTS, tweak func(*cache.Config)) *cache.Cache {
	cfg := cache.Config{Clock: clock, Jitter: time.Nanosecond}
	if tweak != nil {
		tweak(&cfg)
	}
	c := cache.New(f.Fetch, cfg)
	t.Cleanup(c.Close)
	return c
}

var (
	errSTS  = errors.New("STS said no") // of no kind: fault.Internal
	errDown = fault.New(fault.STSUnavailable, "STS is unreachable")
)

func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

// mustGet gets credentials for profile and checks that they have more
// than minLeft left at the clock's time.
func mustGet(t *testing.T, c *cache.Cache, clock *fakeClock, profile string, minLeft time.Duration) cache.Served {
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
		c := newCache(t, clock, f, nil)

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
		c := newCache(t, clock, f, nil)

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
		c := newCache(t, clock, f, nil)

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
		c := newCache(t, clock, f, nil)

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
				c := newCache(t, clock, f, nil)

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
		c := newCache(t, clock, f, nil)
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
		c := newCache(t, clock, f, nil)
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
		c := newCache(t, clock, f, nil)
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
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 30 * time.Minute })
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
		c := newCache(t, clock, f, nil)
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

		// STS answers again: the first request once the retry is due, within
		// RetryMax (1m) of the last failure, gets new credentials.
		f.SetErr(nil)
		clock.Set(3*time.Hour + time.Minute)
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
		c := newCache(t, clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		f.SetErr(errSTS)
		clock.Set(36 * time.Minute)
		c.RefreshDue()
		synctest.Wait() // the refresh failed

		gate := f.Gate("dev") // STS now hangs
		defer close(gate)
		for _, at := range []time.Duration{50 * time.Minute, 55 * time.Minute, 58 * time.Minute} {
			clock.Set(at)
			done := make(chan cache.Served, 1)
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
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.RetryMin, cfg.RetryMax = 10*time.Second, 20*time.Second })
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

// TestCache_FailureKinds checks what the cache keeps of a profile whose
// first fetch fails: one that does not exist is dropped, so that names
// asked for by mistake do not pile up; any other is kept with its error,
// served until the retry is due.
func TestCache_FailureKinds(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantKept bool
	}{
		{"not found", fault.New(fault.NotFound, "no profile %q in the config file", "dev"), false},
		{"STS unavailable", errDown, true},
		{"throttled", fault.New(fault.Throttled, "STS is throttling"), true},
		{"login required", fault.New(fault.LoginRequired, "run brokerd login"), true},
		{"refused", fault.New(fault.Refused, "AccessDenied"), true},
		{"no kind", errSTS, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(t, clock, f, nil)
				f.SetErr(tt.err)

				_, err := c.Get(t.Context(), "dev")
				if !errors.Is(err, tt.err) || fault.KindOf(err) != fault.KindOf(tt.err) {
					t.Fatalf("Get(%q) = %v (kind %v), want %v (kind %v)", "dev", err, fault.KindOf(err), tt.err, fault.KindOf(tt.err))
				}
				st := c.Statuses()
				if kept := len(st) == 1; kept != tt.wantKept {
					t.Fatalf("Statuses() after Get(%q) failed with %v = %+v, want kept %v", "dev", tt.err, st, tt.wantKept)
				}
				if tt.wantKept && (st[0].Failures != 1 || st[0].LastError != tt.err.Error()) {
					t.Errorf("Statuses()[0] = %+v, want Failures 1, LastError %q", st[0], tt.err)
				}

				// Within the retry window a kept profile answers its stored
				// error, of the same kind, without a fetch; a dropped one is
				// fetched anew.
				clock.Set(time.Second)
				_, err = c.Get(t.Context(), "dev")
				if fault.KindOf(err) != fault.KindOf(tt.err) {
					t.Errorf("second Get(%q) = %v (kind %v), want kind %v", "dev", err, fault.KindOf(err), fault.KindOf(tt.err))
				}
				want := 2
				if tt.wantKept {
					want = 1
				}
				if got := f.Calls("dev"); got != want {
					t.Errorf("fetches after two Get(%q) 1s apart = %d, want %d", "dev", got, want)
				}
				// Once something changed that may fix it (a login, new
				// keys), the error is no longer shown as the profile's.
				if tt.wantKept {
					c.Retry()
					if st := c.Statuses(); st[0].Failures != 0 || st[0].LastError != "" {
						t.Errorf("Statuses()[0] after Retry = %+v, want no failures and no error", st[0])
					}
				}
			})
		})
	}
}

// A profile that had credentials is kept whatever the error, and serves its
// last good credentials.
func TestCache_NotFoundKeepsProfileWithCredentials(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
		mustGet(t, c, clock, "dev", 15*time.Minute)

		f.SetErr(fault.New(fault.NotFound, "no profile %q", "dev"))
		clock.Set(50 * time.Minute)
		if got := mustGet(t, c, clock, "dev", time.Minute); got.AccessKeyID != keyID(1) {
			t.Errorf("Get(%q) after a NotFound refresh = %s, want the last good %s", "dev", got.AccessKeyID, keyID(1))
		}
		if st := c.Statuses(); len(st) != 1 || st[0].Profile != "dev" || st[0].Failures != 1 {
			t.Errorf("Statuses() = %+v, want dev kept with 1 failure", st)
		}
	})
}

// A profile with no credentials to serve answers its stored error at once
// until its retry is due, whatever the error and whether or not it had
// credentials before, rather than fetching on every request.
func TestCache_ErrorServedUntilRetryDue(t *testing.T) {
	tests := []struct {
		name string
		err  error
		had  bool // the profile had credentials, now expired
	}{
		{"never had credentials", errDown, false},
		{"credentials expired", errDown, true},
		{"error of no kind", errSTS, false},
		{"login required", fault.New(fault.LoginRequired, "run brokerd login"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				// The first retry is due within [5s, 10s].
				c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.RetryMin = 10 * time.Second })
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
				if got := f.Calls("dev") - before; got != 1 {
					t.Errorf("fetches by 3 requests within 4s of a failure = %d, want 1", got)
				}

				// STS answers again and the retry is due: the next request
				// fetches.
				f.SetErr(nil)
				clock.Set(start + 10*time.Second)
				mustGet(t, c, clock, "dev", 15*time.Minute)
				if got := f.Calls("dev") - before; got != 2 {
					t.Errorf("fetches after the retry was due = %d, want 2", got)
				}
			})
		})
	}
}

// TestCache_ColdFailingProfileFetchedOncePerWindow checks that however many
// clients ask for a profile whose fetch fails, it is fetched once per retry
// window: windows of [2.5s, 5s], then [5s, 10s], then [10s, 20s] allow at
// most 3 fetches in 10s.
func TestCache_ColdFailingProfileFetchedOncePerWindow(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration // how long a fetch takes to fail
		bug   string        // why the case is skipped
	}{
		{"STS answers in 200ms", 200 * time.Millisecond, ""},
		// A locked keychain or a bad config file fails at once.
		{"fetch fails at once", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip(tt.bug)
			}
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				f.delay = tt.delay
				c := newCache(t, clock, f, nil)
				f.SetErr(errDown)

				// Bursts of requests from 200 clients every 100ms for 10s.
				const clients = 200
				for clock.Now().Before(t0.Add(10 * time.Second)) {
					var wg sync.WaitGroup
					for range clients {
						wg.Go(func() {
							if _, err := c.Get(t.Context(), "dev"); !errors.Is(err, errDown) {
								t.Errorf("Get(%q) at t0+%v = %v, want %v", "dev", clock.Now().Sub(t0), err, errDown)
							}
						})
					}
					wg.Wait()
					time.Sleep(100 * time.Millisecond)
				}
				if got := f.Calls("dev"); got < 2 || got > 3 {
					t.Errorf("fetches for %d clients asking every 100ms for 10s = %d, want 2 or 3", clients, got)
				}
			})
		})
	}
}

// TestCache_RetryWindowCappedAtRetryMax checks that after many failures the
// window stops growing at RetryMax (default 1m), so that a recovered STS is
// noticed within a minute without anything else changing.
func TestCache_RetryWindowCappedAtRetryMax(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
		f.SetErr(errDown)

		// A request every second for 10 minutes.
		var at time.Duration
		for ; at < 10*time.Minute; at += time.Second {
			clock.Set(at)
			if _, err := c.Get(t.Context(), "dev"); !errors.Is(err, errDown) {
				t.Fatalf("Get(%q) at t0+%v = %v, want %v", "dev", at, err, errDown)
			}
		}
		times := f.Times()
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < 2500*time.Millisecond || gap > time.Minute+time.Second {
				t.Errorf("fetch %d came %v after the one before, want within [RetryMin/2, RetryMax] (to the second)", i+1, gap)
			}
		}
		if n := len(times); n < 10 || n > 30 {
			t.Errorf("fetches for a request a second over 10m = %d, want 10 to 30", n)
		}

		f.SetErr(nil)
		recovered := at
		for ; ; at += time.Second {
			clock.Set(at)
			if _, err := c.Get(t.Context(), "dev"); err == nil {
				break
			}
		}
		if d := at - recovered; d > time.Minute {
			t.Errorf("first credentials %v after STS recovered, want within RetryMax (1m)", d)
		}
	})
}

// TestCache_RetryWindowEndsEarly checks that Retry and a change of Epoch
// end a retry window: the next request fetches again instead of getting
// the stored error. A change during the failing fetch counts too: the
// error was met before it.
func TestCache_RetryWindowEndsEarly(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *cache.Cache, epoch *atomic.Uint64)
		during bool // change while the failing fetch is under way
		want   int  // fetches, the second request's included
	}{
		{"nothing changes", func(*cache.Cache, *atomic.Uint64) {}, false, 1},
		{"Retry", func(c *cache.Cache, _ *atomic.Uint64) { c.Retry() }, false, 2},
		{"Epoch changes", func(_ *cache.Cache, e *atomic.Uint64) { e.Add(1) }, false, 2},
		{"Retry during the fetch", func(c *cache.Cache, _ *atomic.Uint64) { c.Retry() }, true, 2},
		{"Epoch changes during the fetch", func(_ *cache.Cache, e *atomic.Uint64) { e.Add(1) }, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				var epoch atomic.Uint64
				c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.Epoch = epoch.Load })
				f.SetErr(errDown)

				if tt.during {
					gate := f.Gate("dev")
					done := make(chan error, 1)
					go func() {
						_, err := c.Get(t.Context(), "dev")
						done <- err
					}()
					synctest.Wait()
					tt.change(c, &epoch)
					close(gate)
					if err := <-done; !errors.Is(err, errDown) {
						t.Fatalf("Get(%q) = %v, want %v", "dev", err, errDown)
					}
					f.Ungate("dev")
				} else {
					if _, err := c.Get(t.Context(), "dev"); !errors.Is(err, errDown) {
						t.Fatalf("Get(%q) = %v, want %v", "dev", err, errDown)
					}
					tt.change(c, &epoch)
				}

				f.SetErr(nil)
				clock.Set(time.Second) // the retry is not due before 2.5s
				got, err := c.Get(t.Context(), "dev")
				if n := f.Calls("dev"); n != tt.want {
					t.Errorf("fetches after Get(%q) 1s after a failure = %d, want %d", "dev", n, tt.want)
				}
				if wantErr := tt.want == 1; (err != nil) != wantErr || wantErr && !errors.Is(err, errDown) {
					t.Errorf("Get(%q) 1s after a failure = %q, %v, want the stored error: %v", "dev", got.AccessKeyID, err, wantErr)
				}
			})
		})
	}
}

func TestCache_Statuses(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, nil)
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
		c := newCache(t, clock, f, nil)
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
		c := newCache(t, clock, f, nil)
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

// Credentials that arrive expired, or with less than MinValid left, say
// that this machine's clock is wrong: an error STS is to blame for as far
// as the client can tell, with a code of its own.
func TestCache_RejectsExpiredFetch(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
	}{
		{"less than MinValid left", 30 * time.Second},
		{"expiring now", 0},
		{"expired an hour ago", -time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				f.lifetime = tt.lifetime
				c := newCache(t, clock, f, nil)

				got, err := c.Get(t.Context(), "dev")
				if err == nil || !strings.Contains(err.Error(), "clock") {
					t.Errorf("Get(%q) of credentials expiring in %v = %s, %v, want an error about the clock", "dev", tt.lifetime, got.AccessKeyID, err)
				}
				if kind, code := fault.KindOf(err), fault.CodeOf(err); kind != fault.STSUnavailable || code != "CredentialsExpired" {
					t.Errorf("Get(%q) of credentials expiring in %v: error of kind %v, code %q, want %v, %q", "dev", tt.lifetime, kind, code, fault.STSUnavailable, "CredentialsExpired")
				}
				if st := c.Statuses(); len(st) != 1 || st[0].Failures != 1 || !st[0].Expires.IsZero() {
					t.Errorf("Statuses() = %+v, want dev with 1 failure and no credentials", st)
				}
			})
		})
	}
}

func TestCache_IdleExpiredProfileDropped(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 30 * time.Minute })
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
		c := newCache(t, clock, f, nil)
		before := map[string]cache.Served{}
		for _, p := range []string{"dev", "prod"} {
			before[p] = mustGet(t, c, clock, p, 15*time.Minute)
		}

		// Not due for 30 minutes, yet refreshed at once.
		c.RefreshAll()
		synctest.Wait()
		after := map[string]cache.Served{}
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
// before, does not record its outcome: the one RefreshAll asks for, which
// follows it, does.
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
				c := newCache(t, clock, f, nil)
				mustGet(t, c, clock, "dev", 15*time.Minute)

				f.SetErr(tt.err)
				gate := f.Gate("dev")
				clock.Set(36 * time.Minute) // due: Get starts fetch 2
				mustGet(t, c, clock, "dev", 15*time.Minute)
				synctest.Wait()
				c.RefreshAll() // fetch 3, once fetch 2 has ended
				synctest.Wait()
				if got := f.Calls("dev"); got != 2 {
					t.Fatalf("fetches under way = %d, want 2 (RefreshAll's waits for the one under way)", got)
				}
				f.Ungate("dev")
				close(gate)
				synctest.Wait()
				if got := f.Calls("dev"); got != 3 {
					t.Fatalf("fetches = %d, want 3", got)
				}

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

// TestCache_RefreshAllCoalesces checks that however often RefreshAll is
// called during a refresh (here the one the first call started), one more
// refresh follows it, and the outcome of the one set aside is not
// recorded.
func TestCache_RefreshAllCoalesces(t *testing.T) {
	tests := []struct {
		name     string
		firstErr error // the outcome of the fetch set aside
	}{
		{"set-aside fetch succeeds", nil},
		{"set-aside fetch fails", errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(t, clock, f, nil)
				mustGet(t, c, clock, "dev", 15*time.Minute) // fetch 1

				f.SetErr(tt.firstErr)
				gate := f.Gate("dev")
				c.RefreshAll()
				synctest.Wait() // fetch 2 is under way
				for range 99 {
					c.RefreshAll()
				}
				synctest.Wait()
				if got := f.Calls("dev") - 1; got != 1 {
					t.Fatalf("fetches under way after 100 RefreshAll = %d, want 1", got)
				}
				f.SetErr(nil)
				f.Ungate("dev")
				close(gate)
				synctest.Wait()
				if got := f.Calls("dev") - 1; got != 2 {
					t.Errorf("fetches for 100 RefreshAll during a refresh = %d, want 2", got)
				}

				if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(3) {
					t.Errorf("Get(%q) after RefreshAll = %s, want %s from the fetch that followed", "dev", got.AccessKeyID, keyID(3))
				}
				st := c.Statuses()
				if len(st) != 1 || st[0].Failures != 0 || st[0].LastError != "" {
					t.Errorf("Statuses() = %+v, want no failure recorded", st)
				}
			})
		})
	}
}

func TestCache_RefreshAllLeavesIdleForLater(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.IdleAfter = 10 * time.Minute })
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
		c := cache.New(func(context.Context, string) (creds.Credentials, error) { panic("a bug") }, cache.Config{})
		defer c.Close()
		_, err := c.Get(t.Context(), "dev")
		if err == nil || !strings.Contains(err.Error(), "bug") {
			t.Errorf("Get with a fetch that panics = %v, want an error that says brokerd hit a bug", err)
		}
		if kind := fault.KindOf(err); kind != fault.Internal {
			t.Errorf("Get with a fetch that panics: error of kind %v, want %v", kind, fault.Internal)
		}
	})
}

// TestCache_RefreshAllSetsAsideRequestFetch checks that RefreshAll sets
// aside a fetch under way that a request started, not only a background
// refresh: one more fetch follows it, and the cache keeps that one's
// credentials.
func TestCache_RefreshAllSetsAsideRequestFetch(t *testing.T) {
	tests := []struct {
		name string
		had  bool // the request found credentials with too little left
	}{
		{"cold request", false},
		{"request below MinRemaining", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				clock := newClock()
				f := newSTS(clock)
				c := newCache(t, clock, f, nil)
				if tt.had {
					mustGet(t, c, clock, "dev", 15*time.Minute)
					clock.Set(50 * time.Minute)
				}
				before := f.Calls("dev")

				gate := f.Gate("dev")
				done := make(chan error, 1)
				go func() {
					_, err := c.Get(t.Context(), "dev")
					done <- err
				}()
				synctest.Wait() // the request's fetch is under way
				c.RefreshAll()
				synctest.Wait()
				f.Ungate("dev")
				close(gate)
				if err := <-done; err != nil {
					t.Fatalf("Get(%q) = %v, want credentials", "dev", err)
				}
				synctest.Wait()
				if got := f.Calls("dev") - before; got != 2 {
					t.Errorf("fetches for a request and a RefreshAll during its fetch = %d, want 2", got)
				}
				if got := mustGet(t, c, clock, "dev", 15*time.Minute); got.AccessKeyID != keyID(before+2) {
					t.Errorf("Get(%q) afterwards = %s, want %s from the fetch after RefreshAll", "dev", got.AccessKeyID, keyID(before+2))
				}
			})
		})
	}
}

// An MFA session served as it is (a source profile with mfa_serial) comes
// back the same from every fetch, its lifetime shorter each time, until the
// broker answers LoginRequired near its end: it is never served with
// MinValid (a minute) or less left.
func TestCache_SameSessionNeverServedBelowMinValid(t *testing.T) {
	bubble(t, func(t *testing.T) {
		end := time.Now().Add(12 * time.Hour)
		fetch := func(ctx context.Context, profile string) (creds.Credentials, error) {
			if time.Until(end) < time.Minute {
				return creds.Credentials{}, fault.New(fault.LoginRequired, "run brokerd login dev")
			}
			return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: keyID(1), SecretAccessKey: "s", SessionToken: "t",
				CanExpire: true, Expires: end}}, nil
		}
		c := cache.New(fetch, cache.Config{Clock: clockwork.NewRealClock()})
		defer c.Close()
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		go c.Run(ctx)
		least := 12 * time.Hour
		for time.Now().Before(end) {
			if s, err := c.Get(t.Context(), "dev"); err == nil {
				least = min(least, time.Until(s.Expires))
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if least <= time.Minute {
			t.Errorf("served the session with %v left, want never a minute or less", least)
		}
		stop()
	})
}

// A request waiting on a fetch that Forget set aside (the profile's plan
// changed meanwhile) is not answered with that fetch's credentials: it
// waits for a fetch of its own.
func TestCache_ForgetSetsAsideFetchUnderWay(t *testing.T) {
	bubble(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int64
		fetch := func(ctx context.Context, profile string) (creds.Credentials, error) {
			n := calls.Add(1)
			if n == 1 {
				<-release // the fetch of the old plan, under way
			}
			return creds.Credentials{Credentials: aws.Credentials{AccessKeyID: keyID(int(n)), SecretAccessKey: "s", SessionToken: "t",
				CanExpire: true, Expires: time.Now().Add(time.Hour)}}, nil
		}
		c := cache.New(fetch, cache.Config{Clock: clockwork.NewRealClock(), Patience: time.Minute})
		defer c.Close()
		got := make(chan string, 1)
		go func() {
			s, err := c.Get(t.Context(), "prod")
			if err != nil {
				t.Errorf("Get(prod) = %v", err)
			}
			got <- s.AccessKeyID
		}()
		synctest.Wait()
		c.Forget(func(string) bool { return true })
		close(release)
		if key := <-got; key != keyID(2) {
			t.Errorf("Get(prod) = %s, want %s from a fetch after Forget, not the set-aside %s", key, keyID(2), keyID(1))
		}
	})
}
