package doctor

import (
	"fmt"
	"time"

	"github.com/brokerd/brokerd/profile"
)

// shortDuration is the least duration_seconds that keeps served credentials
// over 15 minutes from expiry: the daemon refreshes credentials once a
// third of their life is left at the latest, and botocore and the .NET SDK
// fetch them again on every call once less than 15 minutes are left.
const shortDuration = 45 * time.Minute

// checkDurations warns of each profile whose duration_seconds is so short
// that SDKs will ask brokerd for its credentials on almost every call. The
// daemon serves them all the same and logs the same once per profile.
func checkDurations(cfg *profile.Config) []Check {
	if cfg == nil {
		return nil // the daemon and the other checks report a config file that does not load
	}
	var out []Check
	for _, name := range cfg.Names() {
		p, err := cfg.Get(name)
		if err != nil || p.Duration == 0 || p.Duration >= shortDuration {
			continue
		}
		out = append(out, Check{"profile " + name, Warn,
			fmt.Sprintf("duration_seconds = %d: its credentials last %s, so brokerd serves them with under 15 minutes left at times, and botocore and .NET SDKs then fetch them again on almost every call",
				int(p.Duration/time.Second), p.Duration),
			fmt.Sprintf("set duration_seconds = %d or more in [profile %s] of %s (the role's maximum session duration permitting)",
				int(shortDuration/time.Second), name, cfg.Path)})
	}
	return out
}

// chainedMax is the longest session STS grants a role assumed with role
// credentials: another role's, or an IAM Identity Center profile's.
const chainedMax = time.Hour

// checkChaining fails each role whose duration_seconds exceeds an hour
// while its credentials come from another role or from IAM Identity
// Center: STS caps role chaining at one hour, and refuses AssumeRole for
// more, for brokerd and the SDKs alike.
func checkChaining(cfg *profile.Config) []Check {
	if cfg == nil {
		return nil // the daemon and the other checks report a config file that does not load
	}
	var out []Check
	for _, name := range cfg.Names() {
		src, chain, err := cfg.Source(name)
		if err != nil || len(chain) == 0 {
			continue // not a role, or one the other checks report
		}
		role := chain[len(chain)-1]
		var from string
		switch {
		case role.Duration <= chainedMax:
			continue
		case len(chain) > 1:
			from = fmt.Sprintf("another role (source_profile = %s, itself a role)", chain[len(chain)-2].Name)
		case src.IsSSO():
			from = fmt.Sprintf("IAM Identity Center (source_profile = %s)", src.Name)
		default:
			continue
		}
		out = append(out, Check{"profile " + name, Fail,
			fmt.Sprintf("duration_seconds = %d in %s, whose credentials come from %s: STS limits such role chaining to 1 hour, so AssumeRole fails with \"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining\"",
				int(role.Duration/time.Second), sectionName(name), from),
			fmt.Sprintf("set duration_seconds = %d or less for profile %s, in %s of %s", int(chainedMax/time.Second), name, sectionName(name), cfg.Path)})
	}
	return out
}
