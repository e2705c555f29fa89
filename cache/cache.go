// Package cache provides per-profile credentials that are fetched once,
// served from memory, and refreshed in the background well before expiry.
package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Credentials are what a fetch produces: temporary credentials and, when
// they are a role's, its ARN.
type Credentials struct {
	aws.Credentials
	RoleARN string
}

// FetchFunc gets new credentials for a profile, typically from STS.
type FetchFunc func(ctx context.Context, profile string) (Credentials, error)

// Config holds the cache's tunables; a zero field takes the default named.
type Config struct {
	// Now tells the wall-clock time; nil means time.Now.
	Now func() time.Time
	// Log receives a line per refresh and per failure; nil logs nothing.
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
	// RetryMin and RetryMax bound the backoff after a failed background
	// refresh (defaults 5s and 5m).
	RetryMin, RetryMax time.Duration
	// FetchTimeout bounds one fetch (default 30s). A fetch goes on when the
	// request that started it gives up, so the next request finds its result.
	FetchTimeout time.Duration
	// IdleAfter stops background refreshes of a profile no request asked
	// for in this long (default 2h).
	IdleAfter time.Duration
	// Forget reports errors after which a profile that never had
	// credentials is dropped from the cache, such as an unknown profile
	// name; nil keeps every profile asked for.
	Forget func(error) bool
	// Transient reports errors that a retry soon will likely meet again,
	// such as STS unreachable or throttling, or a locked keychain. While a
	// profile has no credentials to serve, Get answers such an error again
	// at once until its retry is due, but for RetryMin at most, so that an
	// unlocked keychain or a reachable STS is noticed within seconds,
	// rather than calling STS on every request. Other errors, those a user
	// may fix at any moment (a login, new keys, the config file), are
	// retried on each request. nil retries every error on each request.
	Transient func(error) bool
}

// Cache holds credentials per profile.
type Cache struct {
	fetch FetchFunc
	cfg   Config
	log   *zap.Logger
	group singleflight.Group

	mu      sync.RWMutex
	entries map[string]*entry
}

type entry struct {
	refreshing atomic.Bool
	lastUsed   atomic.Int64 // unix nanoseconds

	mu          sync.Mutex
	creds       Credentials
	has         bool
	refreshAt   time.Time // start a background refresh from then on
	minLeft     time.Duration
	lastRefresh time.Time
	lastErr     error
	failures    int
	failedAt    time.Time
	retryAt     time.Time
	// gen counts forced refreshes; a fetch records its outcome only if
	// none was forced while it ran, as it may use what was replaced.
	gen uint64
}

// New returns a cache that gets credentials from fetch.
func New(fetch FetchFunc, cfg Config) *Cache {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RefreshBefore, 25*time.Minute)
	def(&cfg.Jitter, 5*time.Minute)
	def(&cfg.MinRemaining, 15*time.Minute)
	def(&cfg.MinValid, time.Minute)
	def(&cfg.RetryMin, 5*time.Second)
	def(&cfg.RetryMax, 5*time.Minute)
	def(&cfg.FetchTimeout, 30*time.Second)
	def(&cfg.IdleAfter, 2*time.Hour)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Cache{fetch: fetch, cfg: cfg, log: log, entries: map[string]*entry{}}
}

// now is the wall-clock time without its monotonic reading, so that a
// laptop's sleep counts towards expiry.
func (c *Cache) now() time.Time { return c.cfg.Now().Round(0) }

// Get returns credentials for profile with more than MinRemaining left,
// fetching them if it has none. While STS fails it returns the last good
// credentials as long as they have MinValid left, and never expired ones;
// without those, it answers a Transient error again for a few seconds.
func (c *Cache) Get(ctx context.Context, profile string) (Credentials, error) {
	e := c.entry(profile)
	now := c.now()
	e.lastUsed.Store(now.UnixNano())

	e.mu.Lock()
	creds, has, minLeft, failing := e.creds, e.has, e.minLeft, e.failures > 0
	due := !now.Before(e.refreshAt) && !now.Before(e.retryAt)
	lastErr := e.lastErr
	holding := now.Before(e.retryAt) && now.Before(e.failedAt.Add(c.cfg.RetryMin))
	e.mu.Unlock()

	// While STS fails, a request does not wait on it again: clients give
	// up after a second or two, and STS may take its full timeout.
	left := creds.Expires.Sub(now)
	if has && (left > minLeft || failing && left > c.cfg.MinValid) {
		if due {
			c.refreshAsync(profile, e)
		}
		return creds, nil
	}
	// Without credentials to serve, a request does not call a failing STS
	// again right away either.
	if holding && c.cfg.Transient != nil && c.cfg.Transient(lastErr) {
		return Credentials{}, lastErr
	}
	fresh, err := c.wait(ctx, profile, e, true)
	if err == nil {
		return fresh, nil
	}
	if has && creds.Expires.Sub(c.now()) > c.cfg.MinValid {
		return creds, nil
	}
	return Credentials{}, err
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
		e = &entry{}
		c.entries[profile] = e
	}
	return e
}

// wait joins the fetch in flight for profile, or starts one. With reuse, a
// fetch it starts first looks at e again: one that finished after the
// caller looked may have left credentials to serve, and fetching anew would
// call STS twice for one burst of requests.
func (c *Cache) wait(ctx context.Context, profile string, e *entry, reuse bool) (Credentials, error) {
	ch := c.group.DoChan(profile, func() (any, error) {
		if reuse {
			if creds, ok := c.usable(e); ok {
				return creds, nil
			}
		}
		return c.refresh(profile, e)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Credentials{}, r.Err
		}
		return r.Val.(Credentials), nil
	case <-ctx.Done():
		return Credentials{}, fmt.Errorf("wait for credentials of profile %q: %w", profile, ctx.Err())
	}
}

// usable returns e's credentials when Get would serve them without waiting.
func (c *Cache) usable(e *entry) (Credentials, bool) {
	now := c.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.creds, e.has && e.creds.Expires.Sub(now) > e.minLeft
}

func (c *Cache) refreshAsync(profile string, e *entry) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer e.refreshing.Store(false)
		<-c.group.DoChan(profile, func() (any, error) { return c.refresh(profile, e) })
	}()
}

// refresh fetches and records the outcome. Run it through c.group only.
func (c *Cache) refresh(profile string, e *entry) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.FetchTimeout)
	defer cancel()
	e.mu.Lock()
	gen := e.gen
	e.mu.Unlock()
	start := c.now()
	creds, err := c.fetchSafely(ctx, profile)
	now := c.now()
	if err == nil && !creds.Expires.After(now.Add(c.cfg.MinValid)) {
		err = fmt.Errorf("fetched credentials for profile %q expire at %s, already past: check the clock", profile, creds.Expires.UTC().Format(time.RFC3339))
	}

	if err != nil {
		e.mu.Lock()
		if e.gen != gen {
			e.mu.Unlock()
			return nil, err
		}
		e.lastErr = err
		e.failures++
		e.failedAt = now
		e.retryAt = now.Add(c.backoff(e.failures))
		failures, retryAt, has := e.failures, e.retryAt, e.has
		e.mu.Unlock()
		c.log.Warn("refresh failed", zap.String("profile", profile), zap.Int("failures", failures),
			zap.Time("retry_at", retryAt), zap.Error(err))
		if !has && c.cfg.Forget != nil && c.cfg.Forget(err) {
			c.drop(profile, e)
		}
		return nil, err
	}
	lifetime := creds.Expires.Sub(start)
	margin := c.cfg.RefreshBefore + time.Duration(rand.Int64N(int64(c.cfg.Jitter)+1))
	e.mu.Lock()
	if e.gen != gen {
		e.mu.Unlock()
		return creds, nil
	}
	e.creds, e.has = creds, true
	e.refreshAt = creds.Expires.Add(-min(margin, lifetime/2))
	e.minLeft = min(c.cfg.MinRemaining, lifetime/3)
	e.lastRefresh, e.lastErr, e.failures, e.retryAt = now, nil, 0, time.Time{}
	refreshAt := e.refreshAt
	e.mu.Unlock()
	c.log.Info("refreshed", zap.String("profile", profile), zap.String("role_arn", creds.RoleARN),
		zap.Time("expires", creds.Expires), zap.Time("next_refresh", refreshAt))
	return creds, nil
}

// fetchSafely calls fetch, turning a panic into an error: in the
// singleflight group a panic would end the daemon.
func (c *Cache) fetchSafely(ctx context.Context, profile string) (creds Credentials, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("fetching credentials panicked", zap.String("profile", profile), zap.Any("panic", v), zap.Stack("stack"))
			err = fmt.Errorf("brokerd hit a bug fetching credentials for profile %q and logged it: please report it", profile)
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

// Run refreshes due profiles every tick until ctx ends, so that clients
// of an active profile never wait. It judges due-ness on the wall clock,
// so a laptop waking from sleep refreshes at the next tick.
func (c *Cache) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.RefreshDue()
		}
	}
}

// RefreshDue starts a background refresh of every profile that is due and
// was used within IdleAfter, and drops profiles unused for that long whose
// credentials have expired, so idle secrets do not stay in memory.
func (c *Cache) RefreshDue() {
	now := c.now()
	var idle []string
	c.mu.RLock()
	for name, e := range c.entries {
		used := c.inUse(e, now)
		e.mu.Lock()
		due := e.has && !now.Before(e.refreshAt) && !now.Before(e.retryAt)
		expired := !e.has || !e.creds.Expires.After(now)
		e.mu.Unlock()
		switch {
		case used && due:
			c.refreshAsync(name, e)
		case !used && expired:
			idle = append(idle, name)
		}
	}
	c.mu.RUnlock()
	if len(idle) > 0 {
		c.Forget(func(name string) bool { return slices.Contains(idle, name) })
	}
}

// inUse reports whether e was asked for within IdleAfter of now.
func (c *Cache) inUse(e *entry, now time.Time) bool {
	return now.Sub(time.Unix(0, e.lastUsed.Load())) < c.cfg.IdleAfter
}

// Refresh fetches new credentials for profile now, whatever the cache holds.
func (c *Cache) Refresh(ctx context.Context, profile string) (Credentials, error) {
	e := c.entry(profile)
	e.mu.Lock()
	e.gen++
	e.mu.Unlock()
	c.group.Forget(profile)
	return c.wait(ctx, profile, e, false)
}

// RefreshAll starts a background refresh of every profile in use now, as
// after a change of the config file, setting aside fetches under way;
// requests are served what the cache holds meanwhile. Idle profiles are
// refreshed when next asked for.
func (c *Cache) RefreshAll() {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for name, e := range c.entries {
		e.mu.Lock()
		e.gen++
		e.refreshAt, e.retryAt = time.Time{}, time.Time{}
		e.mu.Unlock()
		c.group.Forget(name)
		if c.inUse(e, now) {
			go func() { <-c.group.DoChan(name, func() (any, error) { return c.refresh(name, e) }) }()
		}
	}
}

// Forget drops the cached credentials of the profiles for which match is
// true, so the next request fetches anew.
func (c *Cache) Forget(match func(profile string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.entries {
		if match(name) {
			delete(c.entries, name)
			c.group.Forget(name)
		}
	}
}

// Status is what the cache knows of one profile.
type Status struct {
	Profile     string
	RoleARN     string
	Expires     time.Time // zero when it holds no credentials
	LastRefresh time.Time
	NextRefresh time.Time
	LastError   string
	Failures    int
}

// Statuses lists every profile in the cache, sorted by name.
func (c *Cache) Statuses() []Status {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Status, 0, len(c.entries))
	for name, e := range c.entries {
		e.mu.Lock()
		s := Status{Profile: name, LastRefresh: e.lastRefresh, Failures: e.failures}
		if e.has {
			s.RoleARN, s.Expires, s.NextRefresh = e.creds.RoleARN, e.creds.Expires, e.refreshAt
			if e.failures > 0 {
				s.NextRefresh = e.retryAt
			}
		}
		if e.lastErr != nil {
			s.LastError = e.lastErr.Error()
		}
		e.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Profile < out[j].Profile })
	return out
}
