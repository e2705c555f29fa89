package doctor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/region"
	"github.com/brokerd/brokerd/wire"
)

// checkRegion checks that each family of SDKs finds a region in this
// shell, as each one looks for it (region.SDKs), and that they agree: the
// container endpoint gives credentials, not a region.
func checkRegion(env Env, f files, cfg *profile.Config) Check {
	const name = "region"
	// The SDKs read the credentials file's sections as profiles too, the
	// config file's settings first (the JS SDK's order; the others let the
	// credentials file win, which matters only when both set a region).
	profileRegion := func(p string) string {
		if cfg != nil {
			if pr, perr := cfg.Get(p); perr == nil && pr.Region != "" {
				return pr.Region
			}
		}
		if s, ok := f.creds.Section(p); ok {
			return get(s, "region")
		}
		return ""
	}
	var missing []string
	found := map[string][]string{}
	var regions []string
	for _, s := range region.SDKs {
		r, from := s.Find(env.Getenv, profileRegion)
		if r == "" {
			missing = append(missing, fmt.Sprintf("%s (it reads %s, then the region of profile %s)", s.Name, strings.Join(s.RegionVars, " and "), s.Profile(env.Getenv)))
			continue
		}
		if _, ok := found[r]; !ok {
			regions = append(regions, r)
		}
		found[r] = append(found[r], fmt.Sprintf("%s from %s", s.Name, from))
	}
	served := servedProfile(env)
	fix := envFix(env) + " (it sets AWS_REGION and AWS_DEFAULT_REGION to the profile's region where this shell has none)"
	if served != "" && cfg != nil {
		if plan, perr := cfg.Plan(served); perr == nil && region.Of(plan) == "" {
			fix = fmt.Sprintf("add region = REGION to [profile %s] (or to its source profile) in %s, then %s", served, env.ConfigFile, envFix(env))
		}
	}
	switch {
	case len(missing) > 0:
		return Check{name, Fail, fmt.Sprintf("no region for %s: they stop with \"You must specify a region\"", strings.Join(missing, "; ")), fix}
	case len(regions) > 1:
		var parts []string
		for _, r := range regions {
			parts = append(parts, fmt.Sprintf("%s for %s", r, strings.Join(found[r], ", ")))
		}
		return Check{name, Warn, "SDKs disagree on the region: " + strings.Join(parts, "; "),
			"set AWS_REGION and AWS_DEFAULT_REGION to the same region, or unset both and run " + envFix(env)}
	}
	r := regions[0]
	return Check{name, OK, fmt.Sprintf("every SDK uses %s (%s)", r, strings.Join(slices.Compact(found[r]), ", ")), ""}
}

// servedProfile is the profile this shell's SDKs get from brokerd: the one
// the endpoint URL names, else BROKERD_PROFILE; "" when neither says.
func servedProfile(env Env) string {
	return cmp.Or(urlProfile(env), env.Getenv(wire.VarProfile))
}
