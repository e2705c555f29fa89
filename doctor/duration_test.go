package doctor

import (
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
			got := checkDurations(env)
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
