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
func checkDurations(env Env) []Check {
	cfg, err := profile.Load(env.ConfigFile)
	if err != nil {
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
