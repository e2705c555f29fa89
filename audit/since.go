package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDays bounds a --since in days; the audit log keeps far less.
const maxDays = 36500

// ParseSince reads a --since value relative to now: a duration back from
// now ("90s", "30m", "1h", "2h30m", "7d"), a date meaning its midnight in
// now's location ("2026-12-01"), a time in now's location as the audit's
// table shows it ("2026-12-01 19:54:12"), a time of day, the last one
// at or before now ("14:02", "14:02:30": today's, or yesterday's when
// today's is to come), or a time in RFC 3339
// ("2026-12-01T18:54:12Z", "2026-12-01T19:54:12+01:00").
func ParseSince(s string, now time.Time) (time.Time, error) { return parseTime("since", s, now) }

// ParseAt reads an --at value as ParseSince does.
func ParseAt(s string, now time.Time) (time.Time, error) { return parseTime("at", s, now) }

// parseTime reads the value s of the flag named flag, as ParseSince says.
func parseTime(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			if n > maxDays {
				// AddDate wraps around far past this, into the future.
				return time.Time{}, fmt.Errorf("%s %q: write at most %dd, or leave --%s out for the whole log", flag, s, maxDays, flag)
			}
			return now.AddDate(0, 0, -n), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	// A date, or a local time as `brokerd audit` prints it.
	for _, layout := range []string{time.DateOnly, time.DateTime} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04", time.TimeOnly} {
		if c, err := time.Parse(layout, s); err == nil {
			y, m, d := now.Date()
			t := time.Date(y, m, d, c.Hour(), c.Minute(), c.Second(), 0, now.Location())
			if t.After(now) {
				t = t.AddDate(0, 0, -1)
			}
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: write a time ago (30m, 1h, 7d), a date (2026-12-01), a time of day (14:02) or a time (2026-12-01 19:54:12, 2026-12-01T18:54:12Z)", flag, s)
}
