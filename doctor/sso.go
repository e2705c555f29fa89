package doctor

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/profile"
)

// checkSSO checks the IAM Identity Center profiles of the config file:
// each has an sso-session (or legacy settings) with a start URL and region
// and names its account and role; and, when the daemon answered (st), that
// each session they use is signed in.
func checkSSO(env Env, cfg *profile.Config, st control.Status, daemonUp bool) []Check {
	if cfg == nil {
		return nil // the config file's own check says why
	}
	var out []Check
	// The sessions used, in the order first used, by key: legacy profiles
	// that share a start URL share one session, which the daemon names
	// after the first of them.
	type used struct{ login, profile string }
	sessions := map[string]bool{}
	var order []used
	for _, name := range cfg.Names() {
		p, _ := cfg.Get(name)
		if !p.IsSSO() {
			continue
		}
		plan, err := cfg.Plan(name)
		if err != nil {
			out = append(out, Check{"SSO profile " + name, Fail, err.Error(), "fix the profile as the message says, or run: aws configure sso"})
			continue
		}
		key := cmp.Or(plan.SSO.Name, plan.SSO.StartURL)
		if !sessions[key] {
			sessions[key] = true
			order = append(order, used{plan.LoginName(), name})
		}
	}
	if !daemonUp {
		return out
	}
	now := env.Now()
	for _, u := range order {
		login := u.login
		name := "SSO session " + login
		s, ok := findSSOSession(st, login, u.profile)
		switch {
		case !ok:
			out = append(out, Check{name, Warn, "the running brokerd does not list it", "restart brokerd after an upgrade, or reload it: systemctl --user reload brokerd"})
		case s.Error != "":
			out = append(out, Check{name, Warn, s.Error, ""})
		case !s.SignedIn || s.Expires == nil:
			out = append(out, Check{name, Warn, "not signed in: its profiles answer LoginRequired", "brokerd login " + login})
		case s.Refreshable:
			out = append(out, Check{name, OK, fmt.Sprintf("signed in; its token (until %s) is refreshed until the session ends", s.Expires.Local().Format(time.DateTime)), ""})
		case s.Expires.Sub(now) < 30*time.Minute:
			out = append(out, Check{name, Warn, fmt.Sprintf("signed in for %s more, without a refresh token", s.Expires.Sub(now).Round(time.Minute)), "brokerd login " + login})
		default:
			out = append(out, Check{name, OK, "signed in until " + s.Expires.Local().Format(time.DateTime), ""})
		}
	}
	return out
}

func findSSOSession(st control.Status, name, profile string) (control.SSOSession, bool) {
	for _, s := range st.SSOSessions {
		if s.Name == name || slices.Contains(s.Profiles, profile) {
			return s, true
		}
	}
	return control.SSOSession{}, false
}
