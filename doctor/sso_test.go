package doctor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
)

func TestCheckSSO(t *testing.T) {
	w := newWorld(t)
	write(t, w.env.ConfigFile, `
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1

[sso-session broken]
sso_region = eu-west-1

[profile sso-dev]
sso_session = corp
sso_account_id = 111111111111
sso_role_name = Developer

[profile sso-admin]
role_arn = arn:aws:iam::222222222222:role/Admin
source_profile = sso-dev

[profile no-section]
sso_session = nope
sso_account_id = 1
sso_role_name = R

[profile bad]
sso_session = broken
sso_account_id = 1
sso_role_name = R

[profile bad-admin]
role_arn = arn:aws:iam::222222222222:role/Admin
source_profile = bad

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = 1
sso_role_name = R

[profile legacy-too]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = 2
sso_role_name = R
`)
	expires := now.Add(time.Hour)
	w.env.Status = func(context.Context) (control.Status, error) {
		return control.Status{PID: 42, SSOSessions: []control.SSOSession{
			{Name: "corp", SignedIn: true, Expires: &expires, Refreshable: true},
			{Name: "legacy", Profiles: []string{"legacy", "legacy-too"}}, // one session for one start URL
		}}, nil
	}
	checks := Run(t.Context(), w.env)
	tests := []struct {
		name   string
		level  Level
		msg    string
		fix    string
		absent bool
	}{
		{name: "SSO profile no-section", level: Fail, msg: "[sso-session nope]"},
		{name: "SSO profile bad", level: Fail, msg: "sso_start_url"},
		{name: "SSO session corp", level: OK, msg: "refreshed until the session ends"},
		{name: "SSO session legacy", level: Warn, msg: "not signed in", fix: "brokerd login legacy"},
		{name: "SSO profile sso-dev", absent: true},
		{name: "SSO session broken", absent: true},
		{name: "SSO session legacy-too", absent: true}, // it is legacy's session
		// A broken SSO profile is reported once, under its own name, not
		// again by the lint of profiles (nor for each role from it).
		{name: "profile no-section", absent: true},
		{name: "profile bad", absent: true},
		{name: "profile bad-admin", absent: true},
	}
	for _, tt := range tests {
		c, ok := find(checks, tt.name)
		switch {
		case tt.absent && ok:
			t.Errorf("Run() has check %+v, want none named %q", c, tt.name)
		case tt.absent:
		case !ok:
			t.Errorf("Run() has no check %q; checks: %+v", tt.name, checks)
		case c.Level != tt.level || !strings.Contains(c.Message, tt.msg) || !strings.Contains(c.Fix, tt.fix):
			t.Errorf("check %q = %+v, want %v with %q and fix %q", tt.name, c, tt.level, tt.msg, tt.fix)
		}
	}
}
