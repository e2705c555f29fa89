package doctor

import (
	"github.com/brokerd/brokerd/profile"

	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckDurations(t *testing.T) {
	tests := []struct {
		name   string
		config string
		warn   []string // profiles warned of
	}{
		{"no file", "", nil},
		{"defaults", "[profile dev]\nregion = us-east-1\n[profile prod]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = dev\n", nil},
		{"an hour", "[profile prod]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = dev\nduration_seconds = 3600\n", nil},
		{"45 minutes", "[profile prod]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = dev\nduration_seconds = 2700\n", nil},
		{"15 and 30 minutes", "[profile prod]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = dev\nduration_seconds = 900\n" +
			"[profile dev]\nduration_seconds = 1800\n", []string{"dev", "prod"}},
		{"invalid elsewhere", "[profile bad]\nduration_seconds = soon\n[profile prod]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = dev\nduration_seconds = 2699\n", []string{"prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := Env{ConfigFile: filepath.Join(t.TempDir(), "config")}
			if tt.config != "" {
				write(t, env.ConfigFile, tt.config)
			}
			got := checkDurations(loadConfig(env.ConfigFile))
			if len(got) != len(tt.warn) {
				t.Fatalf("checkDurations(%q) = %+v, want warnings for %v", tt.config, got, tt.warn)
			}
			for i, c := range got {
				if c.Name != "profile "+tt.warn[i] || c.Level != Warn {
					t.Errorf("check %d = %s %s, want warn profile %s", i, c.Level, c.Name, tt.warn[i])
				}
				if !strings.Contains(c.Message, "botocore") || !strings.Contains(c.Fix, "duration_seconds = 2700 or more in [profile "+tt.warn[i]+"] of "+env.ConfigFile) {
					t.Errorf("check %s = %q, fix %q; want why SDKs refetch and the exact fix", c.Name, c.Message, c.Fix)
				}
			}
		})
	}
}

func TestCheckChaining(t *testing.T) {
	const (
		keys   = "[profile dev]\nregion = eu-west-1\n"
		sso    = "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n[profile corp]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Admin\n"
		legacy = "[profile old]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 111111111111\nsso_role_name = Admin\n"
	)
	role := func(name, source string, seconds int) string {
		s := fmt.Sprintf("[profile %s]\nrole_arn = arn:aws:iam::999999999999:role/%s\nsource_profile = %s\n", name, name, source)
		if seconds != 0 {
			s += fmt.Sprintf("duration_seconds = %d\n", seconds)
		}
		return s
	}
	tests := []struct {
		name   string
		config string
		fail   []string // profiles failed
		from   string   // in each message: where the credentials come from
	}{
		{"no file", "", nil, ""},
		{"a role from keys may last 12h", keys + role("prod", "dev", 43200), nil, ""},
		{"a role from a keychain-only source", role("prod", "ci", 43200), nil, ""},
		{"a role from itself", role("self", "self", 7200), nil, ""},
		{"chained, default duration", keys + role("mid", "dev", 0) + role("prod", "mid", 0), nil, ""},
		{"chained, an hour", keys + role("mid", "dev", 7200) + role("prod", "mid", 3600), nil, ""},
		{"chained, over an hour", keys + role("mid", "dev", 7200) + role("prod", "mid", 3601), []string{"prod"}, "another role (source_profile = mid, itself a role)"},
		{"chained through a role of itself", role("mid", "mid", 7200) + role("prod", "mid", 7200), []string{"prod"}, "source_profile = mid"},
		{"three roles", keys + role("a", "dev", 7200) + role("b", "a", 7200) + role("c", "b", 7200), []string{"b", "c"}, "itself a role"},
		{"from IAM Identity Center", sso + role("prod", "corp", 7200), []string{"prod"}, "IAM Identity Center (source_profile = corp)"},
		{"from IAM Identity Center, legacy", legacy + role("prod", "old", 43200), []string{"prod"}, "IAM Identity Center (source_profile = old)"},
		{"from IAM Identity Center, an hour", sso + role("prod", "corp", 3600), nil, ""},
		// The SSO profile's own duration_seconds is not a role's.
		{"the SSO profile itself", sso + "duration_seconds = 7200\n", nil, ""},
		// A loop is another check's.
		{"loop", role("a", "b", 7200) + role("b", "a", 7200), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := Env{ConfigFile: filepath.Join(t.TempDir(), "config")}
			if tt.config != "" {
				write(t, env.ConfigFile, tt.config)
			}
			got := checkChaining(loadConfig(env.ConfigFile))
			if len(got) != len(tt.fail) {
				t.Fatalf("checkChaining(%q) = %+v, want failures for %v", tt.config, got, tt.fail)
			}
			for i, c := range got {
				if c.Name != "profile "+tt.fail[i] || c.Level != Fail {
					t.Errorf("check %d = %s %s, want FAIL profile %s", i, c.Level, c.Name, tt.fail[i])
				}
				if !strings.Contains(c.Message, "[profile "+tt.fail[i]+"], whose credentials come from ") || !strings.Contains(c.Message, tt.from) ||
					!strings.Contains(c.Message, `"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining"`) {
					t.Errorf("check %s message = %q, want where its credentials come from (%q) and STS's refusal", c.Name, c.Message, tt.from)
				}
				if want := "set duration_seconds = 3600 or less for profile " + tt.fail[i] + ", in [profile " + tt.fail[i] + "] of " + env.ConfigFile; c.Fix != want {
					t.Errorf("check %s fix = %q, want %q", c.Name, c.Fix, want)
				}
			}
		})
	}
}

// loadConfig parses the config file at path; nil when it does not load.
func loadConfig(path string) *profile.Config { return loadFiles(Env{ConfigFile: path}).cfg }
