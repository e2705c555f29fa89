package cache_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/fault"
)

// TestCache_FailureLogRateLimited checks that failure lines are limited to
// one per profile and kind per 10s, the next one counting those held back,
// so that clients retrying a failing profile cannot flood the log.
func TestCache_FailureLogRateLimited(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		core, logs := observer.New(zapcore.InfoLevel)
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.Log = zap.New(core) })
		failures := func() *observer.ObservedLogs { return logs.FilterMessage("refresh failed") }

		// Refresh fetches whatever the retry window, as a client retrying
		// after each Retry would.
		f.SetErr(errDown)
		for i := range 1000 {
			clock.Set(time.Duration(i) * 10 * time.Millisecond) // within [0, 10s)
			if _, err := c.Refresh(t.Context(), "dev"); err == nil {
				t.Fatalf("Refresh(%q) = nil error, want %v", "dev", errDown)
			}
		}
		if got := f.Calls("dev"); got != 1000 {
			t.Fatalf("fetches = %d, want 1000", got)
		}
		if got := failures().Len(); got != 1 {
			t.Fatalf("failure lines for 1000 failures of one profile in 10s = %d, want 1", got)
		}

		steps := []struct {
			at         time.Duration
			profile    string
			err        error
			wantLines  int
			suppressed int64 // of the last line
		}{
			// Another kind, or another profile: a line of its own.
			{9 * time.Second, "dev", errSTS, 2, 0},
			{9 * time.Second, "prod", errDown, 3, 0},
			// The window of dev's first line is over: a line that counts
			// the 999 held back.
			{10 * time.Second, "dev", errDown, 4, 999},
		}
		for _, s := range steps {
			clock.Set(s.at)
			f.SetErr(s.err)
			c.Refresh(t.Context(), s.profile)
			lines := failures().All()
			if len(lines) != s.wantLines {
				t.Fatalf("failure lines after a failure of %q (%v) at t0+%v = %d, want %d", s.profile, s.err, s.at, len(lines), s.wantLines)
			}
			last := lines[len(lines)-1]
			fields := last.ContextMap()
			if last.Level != zapcore.WarnLevel || fields["profile"] != s.profile || fields["kind"] != fault.KindOf(s.err).String() || fields["suppressed"] != s.suppressed {
				t.Errorf("failure line of %q (%v) at t0+%v = %v %v, want a warning of its profile and kind, suppressed %d", s.profile, s.err, s.at, last.Level, fields, s.suppressed)
			}
		}
	})
}

// TestCache_LogsNoSecrets checks that no line the cache logs shows a secret
// key or session token.
func TestCache_LogsNoSecrets(t *testing.T) {
	bubble(t, func(t *testing.T) {
		clock := newClock()
		f := newSTS(clock)
		core, logs := observer.New(zapcore.DebugLevel)
		c := newCache(t, clock, f, func(cfg *cache.Config) { cfg.Log = zap.New(core) })

		got := mustGet(t, c, clock, "dev", 15*time.Minute)
		if _, err := c.Refresh(t.Context(), "dev"); err != nil {
			t.Fatalf("Refresh(%q) = %v", "dev", err)
		}
		f.SetErr(errDown)
		c.Refresh(t.Context(), "dev")
		if logs.Len() < 3 {
			t.Fatalf("lines logged = %d, want one per refresh and failure", logs.Len())
		}
		for _, e := range logs.All() {
			line := fmt.Sprint(e.Message, " ", e.ContextMap())
			for _, secret := range []string{got.SecretAccessKey, got.SessionToken, "secret-", "token-"} {
				if strings.Contains(line, secret) {
					t.Errorf("logged %q, which shows a secret (%q)", line, secret)
				}
			}
		}
	})
}
