package sdkenv_test

import (
	"os"
	"testing"

	"github.com/brokerd/brokerd/sdkenv"
)

// Load reads the environment whatever AWS_PROFILE names, a profile of no
// shared file included, and leaves no file behind.
func TestLoad(t *testing.T) {
	for _, profile := range []string{"", "dev", "nosuch"} {
		t.Run("AWS_PROFILE="+profile, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			t.Setenv("AWS_PROFILE", profile)
			t.Setenv("AWS_REGION", "eu-west-1")
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent/config")
			cfg, err := sdkenv.Load(t.Context())
			if err != nil || cfg.Region != "eu-west-1" {
				t.Errorf("Load() = region %q, %v; want eu-west-1 from the environment", cfg.Region, err)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("Load() left %d files in TMPDIR", len(left))
			}
		})
	}
}
