// Package cache provides per-profile credentials that are fetched once,
// served from memory, and refreshed in the background well before expiry.
// It is the one place served credentials live, with the response body the
// endpoint sends for them.
package cache

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/wire"
)

// FetchFunc gets new credentials for a profile, typically from STS.
type FetchFunc func(ctx context.Context, profile string) (creds.Credentials, error)

// Served is what the cache serves for a profile: its credentials and the
// response body that carries them.
type Served struct {
	creds.Credentials
	Body []byte
}

// Config holds the cache's tunables; a zero field takes the default named.
type Config struct {
	// Clock tells the time and arms timers; nil means the real clock.
	Clock clockwork.Clock
	// Log receives a line per refresh and rate-limited failure lines; nil
	// logs nothing.
	Log *zap.Logger
	// RefreshBefore is how long before expiry a background refresh starts
	// (default 25m), plus a random Jitter of up to 5m.
	RefreshBefore, Jitter time.Duration
	// MinRemaining is the least time left that a served credential has
	// while STS answers (default 15m); a request for credentials with less
	// left waits for a refresh, unless the last refresh failed: then it
	// gets them at once and the retry runs in the background.
	MinRemaining time.Duration
	// MinValid is the least time left that credentials are served with when
	// a refresh has failed (default 1m); with less left the error is served.
	MinValid time.Duration
	// RetryMin and RetryMax bound the backoff after a failed fetch
	// (defaults 5s and 1m). Until the retry is due, every request for a
	// profile without credentials to serve gets the stored error at once:
	// one fetch per window, whatever the number of clients.
	RetryMin, RetryMax time.Duration
	// FetchTimeout bounds one fetch (default 30s). A fetch goes on when the
	// request that started it gives up, so the next request finds its result.
	FetchTimeout time.Duration
	// Patience bounds how long a request waits for a fetch; the fetch goes
	// on, and a request after it ends finds its result. Clients give up
	// after a second or two (botocore 2 s, the JS and Java SDKs 1 s), so a
	// longer wait answers no one. Zero means as long as the fetch takes.
	Patience time.Duration
	// IdleAfter stops background refreshes of a profile no request asked
	// for in this long (default 2h).
	IdleAfter time.Duration
	// Epoch changes when something changed that may fix a failure, such as
	// the config file; a stored error is then not served again. nil means
	// only Retry ends a retry window early.
	Epoch func() uint64
}

// maxSleep bounds how long Run sleeps while it holds profiles: a timer does
// not run while a laptop sleeps, the wall clock does.
const maxSleep = 5 * time.Minute

// Cache holds credentials per profile.
type Cache struct {
	fetch FetchFunc
	cfg   Config
	log   *zap.Logger
	group singleflight.Group
	tasks tasks
	limit limiter
	// ctx ends when the cache closes; every fetch runs under it.
	ctx   context.Context
	stop  context.CancelFunc
	kick  chan struct{}
	epoch atomic.Uint64 // bumped by Retry

	mu      sync.RWMutex
	entries map[string]*entry
}

type entry struct {
	refreshing atomic.Bool
	again      atomic.Bool  // refresh once more when the one under way ends
	lastUsed   atomic.Int64 // unix nanoseconds

	mu          sync.Mutex
	served      Served
	has         bool
	refreshAt   time.Time // start a background refresh from then on
	minLeft     time.Duration
	lastRefresh time.Time
	lastErr     error
	errEpoch    [2]uint64 // the epochs lastErr was met in
	failures    int
	retryAt     time.Time
	fetching    int // fetches under way, a request's or the background's
	// gen counts forced refreshes; a fetch records its outcome only if
	// none was forced while it ran, as it may use what was replaced.
	gen uint64
	// toldShort is set once the log said this profile's credentials are
	// too short-lived for the SDKs' refresh windows.
	toldShort bool
}

// New returns a cache that gets credentials from fetch. Close it to stop
// its refreshes.
func New(fetch FetchFunc, cfg Config) *Cache {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RefreshBefore, 25*time.Minute)
	def(&cfg.Jitter, 5*time.Minute)
	def(&cfg.MinRemaining, 15*time.Minute)
	def(&cfg.MinValid, creds.MinValid)
	def(&cfg.RetryMin, 5*time.Second)
	def(&cfg.RetryMax, time.Minute)
	def(&cfg.FetchTimeout, 30*time.Second)
	def(&cfg.IdleAfter, 2*time.Hour)
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Cache{fetch: fetch, cfg: cfg, log: log, limit: limiter{window: 10 * time.Second},
		ctx: ctx, stop: stop, kick: make(chan struct{}, 1), entries: map[string]*entry{}}
}

// Close cancels fetches under way and waits for every goroutine the cache
// started.
func (c *Cache) Close() {
	c.stop()
	c.tasks.Close()
}

// now is the wall-clock time without its monotonic reading, so that a
// laptop's sleep counts towards expiry.
func (c *Cache) now() time.Time { return c.cfg.Clock.Now().Round(0) }

func (c *Cache) epochs() [2]uint64 {
	var e [2]uint64
	e[0] = c.epoch.Load()
	if c.cfg.Epoch != nil {
		e[1] = c.cfg.Epoch()
	}
	return e
}

// Get returns credentials for profile with more than MinRemaining left,
// fetching them if it has none. While STS fails it returns the last good
// credentials as long as they have MinValid left, and never expired ones;
// without those, it answers the stored error until the retry is due.
func (c *Cache) Get(ctx context.Context, profile string) (Served, error) {
	return c.get(ctx, profile, false)
}

// errSetAside is the outcome of a fetch that Forget or RefreshAll set
// aside while it ran: it may have used what changed (the plan of an
// edited config file, say), so its credentials are neither kept nor
// served, and a request that waited on it asks once more.
var errSetAside = &fault.Error{Kind: fault.STSUnavailable, Code: "Cancelled",
	Message: "the credentials were being fetched when what they depend on changed: try again"}

// get is Get; retried is true when a fetch it waited on was set aside.
func (c *Cache) get(ctx context.Context, profile string, retried bool) (Served, error) {
	e := c.entry(profile)
	now := c.now()
	e.lastUsed.Store(now.UnixNano())

	e.mu.Lock()
	served, has, minLeft, failing := e.served, e.has, e.minLeft, e.failures > 0
	retryAt := c.retryAt(e, now)
	due := !now.Before(e.refreshAt) && !now.Before(retryAt)
	lastErr, errEpoch, held := e.lastErr, e.errEpoch, now.Before(retryAt)
	e.mu.Unlock()

	// While STS fails, a request does not wait on it again: clients give
	// up after a second or two, and STS may take its full timeout.
	left := served.Expires.Sub(now)
	if has && (left > minLeft || failing && left > c.cfg.MinValid) {
		if due {
			c.refreshAsync(profile, e)
		}
		return served, nil
	}
	// Without credentials to serve, a request does not call a failing STS
	// again before the retry is due, unless something changed meanwhile.
	if lastErr != nil && held && errEpoch == c.epochs() {
		return Served{}, lastErr
	}
	fresh, err := c.wait(ctx, profile, e, true, c.cfg.Patience)
	if errors.Is(err, errSetAside) && !retried {
		return c.get(ctx, profile, true)
	}
	if err == nil {
		return fresh, nil
	}
	if has && served.Expires.Sub(c.now()) > c.cfg.MinValid {
		return served, nil
	}
	return Served{}, err
}

func (c *Cache) entry(profile string) *entry {
	c.mu.RLock()
	e := c.entries[profile]
	c.mu.RUnlock()
	if e != nil {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e = c.entries[profile]; e == nil {
		if len(c.entries) >= maxEntries {
			c.dropUnserved()
		}
		e = &entry{}
		c.entries[profile] = e
	}
	return e
}

// maxEntries bounds the profiles the cache holds before it drops those
// without credentials. Names that do not exist are dropped when their
// fetch says so, but while the keychain fails nothing tells them apart from
// profiles that exist.
const maxEntries = 1024

// dropUnserved drops the entries that hold no credentials, only an error
// and its retry window; c.mu is held. A fetch under way for one records
// nothing, and the next request for it starts afresh.
func (c *Cache) dropUnserved() {
	for name, e := range c.entries {
		e.mu.Lock()
		if !e.has && !e.refreshing.Load() {
			e.gen++
			delete(c.entries, name)
		}
		e.mu.Unlock()
	}
}

type result struct {
	served Served
	err    error
}

// wait joins the fetch in flight for profile, or starts one, and waits for
// it at most patience (0: no limit). With reuse, a fetch it starts first
// looks at e again: one that finished after the caller looked may have
// left credentials to serve, and fetching anew would call STS twice for
// one burst of requests.
func (c *Cache) wait(ctx context.Context, profile string, e *entry, reuse bool, patience time.Duration) (Served, error) {
	ch := make(chan result, 1)
	ok := c.tasks.Go(func() {
		v, err, _ := c.group.Do(profile, func() (any, error) {
			if reuse {
				if s, ok := c.usable(e); ok {
					return s, nil
				}
				if err := c.held(e); err != nil {
					return nil, err
				}
			}
			return c.refresh(profile, e)
		})
		s, _ := v.(Served)
		ch <- result{s, err}
	})
	if !ok {
		return Served{}, fault.New(fault.Cancelled, "brokerd is stopping: try again when it is back")
	}
	var gaveUp <-chan time.Time
	if patience > 0 {
		t := c.cfg.Clock.NewTimer(patience)
		defer t.Stop()
		gaveUp = t.Chan()
	}
	select {
	case r := <-ch:
		return r.served, r.err
	case <-ctx.Done():
		return Served{}, fmt.Errorf("wait for credentials of profile %q: %w", profile, ctx.Err())
	case <-gaveUp:
		return Served{}, fault.New(fault.STSUnavailable, "credentials for profile %q are still being fetched after %s (STS or the keychain is slow): try again in a moment; brokerd goes on fetching them", profile, patience)
	}
}

// usable returns e's credentials when Get would serve them without waiting.
func (c *Cache) usable(e *entry) (Served, bool) {
	now := c.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.served, e.has && e.served.Expires.Sub(now) > e.minLeft
}

// refreshAsync refreshes profile in the background unless a refresh is
// under way; a refresh asked for meanwhile (again) runs after it, once.
func (c *Cache) refreshAsync(profile string, e *entry) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	// The caller looked before taking the flag: a refresh that ended
	// meanwhile may have made the profile not due.
	now := c.now()
	e.mu.Lock()
	due := now.Compare(e.refreshAt) >= 0 && now.Compare(c.retryAt(e, now)) >= 0
	e.mu.Unlock()
	if !due && !e.again.Load() {
		e.refreshing.Store(false)
		return
	}
	started := c.tasks.Go(func() {
		for {
			e.again.Store(false)
			c.group.Do(profile, func() (any, error) { return c.refresh(profile, e) })
			e.refreshing.Store(false)
			if !e.again.Load() || !e.refreshing.CompareAndSwap(false, true) {
				return
			}
		}
	})
	if !started {
		e.refreshing.Store(false)
	}
}

// refresh fetches and records the outcome. Run it through c.group only.
func (c *Cache) refresh(profile string, e *entry) (any, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.FetchTimeout)
	defer cancel()
	e.mu.Lock()
	gen := e.gen
	e.fetching++
	e.mu.Unlock()
	defer func() { e.mu.Lock(); e.fetching--; e.mu.Unlock() }()
	epochs := c.epochs()
	start := c.now()
	cr, err := c.fetchSafely(ctx, profile)
	if c.ctx.Err() != nil {
		// Closing: the outcome is nobody's to record.
		return nil, &fault.Error{Kind: fault.Cancelled, Message: "brokerd is stopping: try again when it is back", Err: cmp.Or(err, c.ctx.Err())}
	}
	now := c.now()
	if err == nil && !cr.Expires.After(now.Add(c.cfg.MinValid)) {
		err = &fault.Error{Kind: fault.STSUnavailable, Code: "CredentialsExpired", Message: fmt.Sprintf(
			"STS gave credentials for profile %q that expire at %s, already past: check this machine's clock", profile, cr.Expires.UTC().Format(time.RFC3339))}
	}
	var body []byte
	if err == nil {
		body, err = encode(cr)
	}
	if err != nil {
		c.failed(profile, e, gen, epochs, now, err)
		return nil, err
	}
	s := Served{Credentials: cr, Body: body}
	lifetime := cr.Expires.Sub(start)
	margin := c.cfg.RefreshBefore + time.Duration(rand.Int64N(int64(c.cfg.Jitter)+1))
	e.mu.Lock()
	if e.gen != gen {
		e.mu.Unlock()
		return nil, errSetAside
	}
	e.served, e.has = s, true
	e.refreshAt = cr.Expires.Add(-min(margin, lifetime/2))
	// A third of the lifetime, for short-lived credentials, measured
	// from this fetch: refreshing an MFA session served as it is makes it
	// shorter each time, but never below MinValid, which nothing is served
	// with.
	e.minLeft = max(min(c.cfg.MinRemaining, lifetime/3), c.cfg.MinValid)
	e.lastRefresh, e.lastErr, e.failures, e.retryAt = now, nil, 0, time.Time{}
	refreshAt, minLeft := e.refreshAt, e.minLeft
	tellShort := minLeft < c.cfg.MinRemaining && !e.toldShort
	e.toldShort = e.toldShort || tellShort
	e.mu.Unlock()
	c.wake()
	c.log.Info("refreshed", zap.String("profile", profile), zap.String("role_arn", cr.RoleARN),
		zap.Time("expires", cr.Expires), zap.Time("next_refresh", refreshAt))
	if tellShort {
		// Served all the same: SDKs work, only more of their calls reach
		// brokerd.
		c.log.Warn("short-lived credentials: they are served with under 15m left at times, so botocore and .NET SDKs fetch them again on almost every call",
			zap.String("profile", profile), zap.Duration("lifetime", lifetime.Round(time.Second)), zap.Duration("least_left", minLeft.Round(time.Second)),
			zap.String("fix", fmt.Sprintf("set duration_seconds = %d or more for profile %s (or, for an MFA session near its end, brokerd login)",
				int(3*c.cfg.MinRemaining/time.Second), profile)))
	}
	return s, nil
}

// failed records a failed fetch of e and sets its retry window. A profile
// that does not exist, and never had credentials, is dropped.
func (c *Cache) failed(profile string, e *entry, gen uint64, epochs [2]uint64, now time.Time, err error) {
	e.mu.Lock()
	if e.gen != gen {
		e.mu.Unlock()
		return
	}
	e.lastErr, e.errEpoch = err, epochs
	e.failures++
	e.retryAt = now.Add(c.backoff(e.failures))
	failures, retryAt, has := e.failures, e.retryAt, e.has
	e.mu.Unlock()
	c.logFailure(profile, failures, retryAt, err)
	if !has && fault.KindOf(err) == fault.NotFound {
		c.drop(profile, e)
	}
	c.wake()
}

func encode(cr creds.Credentials) ([]byte, error) {
	return json.Marshal(wire.Credentials{
		AccessKeyID:     cr.AccessKeyID,
		SecretAccessKey: cr.SecretAccessKey,
		Token:           cr.SessionToken,
		Expiration:      wire.Expiry(cr.Expires),
		AccountID:       cr.AccountID,
		RoleArn:         cr.RoleARN,
	})
}

// fetchSafely calls fetch, turning a panic into an error: in the
// singleflight group a panic would end the daemon.
func (c *Cache) fetchSafely(ctx context.Context, profile string) (cr creds.Credentials, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("fetching credentials panicked", zap.String("profile", profile), zap.Any("panic", v), zap.Stack("stack"))
			err = fault.New(fault.Internal, "brokerd hit a bug fetching credentials for profile %q and logged it: please report it", profile)
		}
	}()
	return c.fetch(ctx, profile)
}

// drop removes e unless it was replaced meanwhile.
func (c *Cache) drop(profile string, e *entry) {
	c.mu.Lock()
	if c.entries[profile] == e {
		delete(c.entries, profile)
	}
	c.mu.Unlock()
}

// backoff is capped exponential with full jitter over its upper half.
func (c *Cache) backoff(failures int) time.Duration {
	d := c.cfg.RetryMax
	if failures < 20 {
		d = min(c.cfg.RetryMin<<(failures-1), c.cfg.RetryMax)
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// held returns the stored error while its retry window holds.
func (c *Cache) held(e *entry) error {
	now := c.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lastErr != nil && now.Before(c.retryAt(e, now)) && e.errEpoch == c.epochs() {
		return e.lastErr
	}
	return nil
}

// retryAt is when e's retry window ends; e.mu is held. A window that ends
// more than RetryMax after now was opened before the wall clock was set
// back (NTP correcting a clock that ran ahead): it ends now, rather than
// when the clock reaches it again, hours later maybe.
func (c *Cache) retryAt(e *entry, now time.Time) time.Time {
	if e.retryAt.Sub(now) > c.cfg.RetryMax {
		e.retryAt = now
	}
	return e.retryAt
}
