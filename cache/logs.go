package cache

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/fault"
)

// limiter lets one failure line per profile and kind through per window,
// and counts the lines it held back, so that clients retrying a failing
// profile cannot flood the log.
type limiter struct {
	window time.Duration

	mu   sync.Mutex
	seen map[limitKey]*limitState
	// Across all keys, at most maxLines lines per window: names asked for
	// once each must not flood the log either.
	windowStart time.Time
	lines       int
}

// maxLines bounds the failure lines of all profiles per window.
const maxLines = 20

type limitKey struct {
	profile string
	kind    fault.Kind
}

type limitState struct {
	last    time.Time
	dropped int
}

// maxLimited bounds the keys the limiter remembers.
const maxLimited = 1024

// allow reports whether a line for key may be logged at now, and how many
// were held back since the last one.
func (l *limiter) allow(key limitKey, now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || len(l.seen) >= maxLimited {
		l.seen = map[limitKey]*limitState{}
	}
	s := l.seen[key]
	if s == nil {
		s = &limitState{}
		l.seen[key] = s
	}
	// A time before the last means the wall clock was set back: the
	// window ended.
	if d := now.Sub(l.windowStart); d < 0 || d >= l.window {
		l.windowStart, l.lines = now, 0
	}
	if d := now.Sub(s.last); !s.last.IsZero() && d >= 0 && d < l.window || l.lines >= maxLines {
		s.dropped++
		return false, 0
	}
	l.lines++
	dropped, s.dropped, s.last = s.dropped, 0, now
	return true, dropped
}

func (c *Cache) logFailure(profile string, failures int, retryAt time.Time, err error) {
	kind := fault.KindOf(err)
	ok, dropped := c.limit.allow(limitKey{profile, kind}, c.now())
	if !ok {
		return
	}
	c.log.Warn("refresh failed", zap.String("profile", profile), zap.Stringer("kind", kind), zap.Int("failures", failures),
		zap.Time("retry_at", retryAt), zap.Int("suppressed", dropped), zap.Error(err))
}
