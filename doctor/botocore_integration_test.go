//go:build integration

package doctor

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBotocoreSectionName_Botocore checks botocoreSectionName against
// botocore itself: the profiles and sso-sessions a botocore Session reads
// from a config file holding one header.
func TestBotocoreSectionName_Botocore(t *testing.T) {
	headers := []string{`profile a`, `profile "a b"`, `profile a b`, `profile 'e'`, `profile f\g`, `profiles h`,
		`profile "i`, `profile "j"k`, `profile "l\"m"`, `profile "n\o"`, ` profile  p `, `profile q\`, `profile ""`,
		`profile 'r\'`, `profile a\ b`, `sso-session "s t"`, `sso-session s`, `sso-sessions t`}
	dir := t.TempDir()
	var files []string
	for i, h := range headers {
		f := filepath.Join(dir, "config"+string(rune('a'+i)))
		if err := os.WriteFile(f, []byte("["+h+"]\nregion = eu-west-1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	const script = `
import json, sys, botocore.session
out = []
for f in sys.argv[1:]:
    s = botocore.session.Session()
    s.set_config_variable("config_file", f)
    c = s.full_config
    out.append({"profile": sorted(c["profiles"]), "sso-session": sorted(c["sso_sessions"])})
print(json.dumps(out))
`
	b, err := exec.Command("python3", append([]string{"-c", script}, files...)...).Output()
	if err != nil {
		t.Fatalf("python3 (botocore): %v", err)
	}
	var got []map[string][]string
	if err := json.Unmarshal(b, &got); err != nil || len(got) != len(headers) {
		t.Fatalf("python3 (botocore) printed %s: %v", b, err)
	}
	for i, h := range headers {
		for _, typ := range []string{"profile", "sso-session"} {
			var want []string
			if name, ok := botocoreSectionName(h, typ); ok {
				want = []string{name}
			}
			if boto := got[i][typ]; len(boto) != len(want) || len(want) == 1 && boto[0] != want[0] {
				t.Errorf("botocoreSectionName(%q, %s) = %q, botocore reads %q", h, typ, want, boto)
			}
		}
	}
}
