package cache

import (
	"context"
	"slices"
	"sort"
	"time"
)

// wake tells Run that an entry changed its times.
func (c *Cache) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run refreshes due profiles until ctx ends, so that clients of an active
// profile never wait. It sleeps until the next refresh, retry or expiry
// is due (at most maxSleep, since timers stop while a laptop sleeps), and
// not at all while the cache is empty. Due-ness is judged on the wall
// clock.
func (c *Cache) Run(ctx context.Context) {
	for {
		next := c.RefreshDue()
		if !c.sleep(ctx, next) {
			return
		}
	}
}

// sleep waits until next (forever when zero), a kick or the end of ctx,
// and reports false for the last.
func (c *Cache) sleep(ctx context.Context, next time.Time) bool {
	var wake <-chan time.Time
	if !next.IsZero() {
		t := c.cfg.Clock.NewTimer(min(max(next.Sub(c.now()), 0), maxSleep))
		defer t.Stop()
		wake = t.Chan()
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.kick:
	case <-wake:
	}
	return true
}

// RefreshDue starts a background refresh of every profile that is due and
// was used within IdleAfter, and drops profiles unused for that long whose
// credentials have expired, so idle secrets do not stay in memory. It
// returns when it is next due, zero when the cache is empty.
func (c *Cache) RefreshDue() (next time.Time) {
	now := c.now()
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	var idle []string
	c.mu.RLock()
	for name, e := range c.entries {
		lastUsed := c.lastUsed(e, now)
		used := now.Sub(lastUsed) < c.cfg.IdleAfter
		e.mu.Lock()
		at := e.refreshAt
		if r := c.retryAt(e, now); r.After(at) {
			at = r
		}
		due := e.has && !now.Before(at)
		expired := !e.has || !e.served.Expires.After(now)
		if e.has {
			if e.served.Expires.After(now) {
				soonest(e.served.Expires)
			}
			if used && !due {
				soonest(at)
			}
		}
		e.mu.Unlock()
		switch {
		case used && due:
			c.refreshAsync(name, e)
		case !used && expired:
			idle = append(idle, name)
		case used:
			soonest(lastUsed.Add(c.cfg.IdleAfter))
		}
	}
	c.mu.RUnlock()
	if len(idle) > 0 {
		c.Forget(func(name string) bool { return slices.Contains(idle, name) })
	}
	return next
}

// lastUsed returns when e was last asked for. A time after now was
// recorded while the wall clock ran ahead, and the clock was set back
// since: e counts as used now, so that it goes idle IdleAfter from here,
// not as much later as the clock ran ahead.
func (c *Cache) lastUsed(e *entry, now time.Time) time.Time {
	n := e.lastUsed.Load()
	if n > now.UnixNano() {
		e.lastUsed.CompareAndSwap(n, now.UnixNano())
		return now
	}
	return time.Unix(0, n)
}

// Refresh fetches new credentials for profile now, whatever the cache holds.
func (c *Cache) Refresh(ctx context.Context, profile string) (Served, error) {
	e := c.entry(profile)
	e.mu.Lock()
	e.gen++
	e.mu.Unlock()
	c.group.Forget(profile)
	return c.wait(ctx, profile, e, false, 0)
}

// RefreshAll refreshes every profile in use in the background, as after a
// change of the config file; requests are served what the cache holds
// meanwhile. A fetch under way is set aside, since it may have used what
// changed, and one more follows it, however often RefreshAll is called
// during it. Idle profiles are refreshed when next asked for.
func (c *Cache) RefreshAll() {
	now := c.now()
	c.Retry()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for name, e := range c.entries {
		e.mu.Lock()
		if e.refreshing.Load() || e.fetching > 0 {
			e.gen++ // set aside what is under way
		}
		if !e.refreshing.Load() && e.fetching > 0 {
			c.group.Forget(name) // a request's fetch: do not join it
		}
		e.refreshAt, e.retryAt = time.Time{}, time.Time{}
		e.mu.Unlock()
		if now.Sub(c.lastUsed(e, now)) < c.cfg.IdleAfter {
			e.again.Store(true)
			c.refreshAsync(name, e)
		}
	}
}

// Retry ends every retry window: the next request fetches again. Call it
// after anything that may fix a failure, such as a login or new keys.
func (c *Cache) Retry() { c.epoch.Add(1) }

// Forget drops the cached credentials of the profiles for which match is
// true, so the next request fetches anew.
func (c *Cache) Forget(match func(profile string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.entries {
		if match(name) {
			e.mu.Lock()
			e.gen++ // a fetch under way must not bring them back
			e.mu.Unlock()
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

// Statuses lists every profile in the cache, sorted by name. An error met
// before something changed that may fix it (Retry: a login, new keys; an
// edit of the config file) is not shown: the next request fetches anew.
func (c *Cache) Statuses() []Status {
	epochs := c.epochs()
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Status, 0, len(c.entries))
	for name, e := range c.entries {
		e.mu.Lock()
		s := Status{Profile: name, LastRefresh: e.lastRefresh}
		failing := e.lastErr != nil && e.errEpoch == epochs
		if failing {
			s.LastError, s.Failures = e.lastErr.Error(), e.failures
		}
		if e.has {
			s.RoleARN, s.Expires, s.NextRefresh = e.served.RoleARN, e.served.Expires, e.refreshAt
			if failing {
				s.NextRefresh = c.retryAt(e, c.now())
			}
		}
		e.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Profile < out[j].Profile })
	return out
}
