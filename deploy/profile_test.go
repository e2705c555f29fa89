package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChooseProfile(t *testing.T) {
	const quickStart = `[profile dev]
region = eu-west-1

[profile prod]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = dev
`
	const withDefault = quickStart + "\n[default]\nregion = us-east-2\n"
	tests := []struct {
		name, config string
		keychain     []string
		asked        string
		want         Choice
		err          []string // in the error; nil: no error
	}{
		{"asked, a role: its source's region", quickStart, []string{"dev"}, "prod", Choice{"prod", "eu-west-1"}, nil},
		{"asked, keychain only", "", []string{"ci"}, "ci", Choice{"ci", ""}, nil},
		{"default of the config", withDefault, nil, "", Choice{"default", "us-east-2"}, nil},
		{"default in the keychain", quickStart, []string{"default", "dev"}, "", Choice{"default", ""}, nil},
		{"no default: refused, with the list", quickStart, []string{"dev"}, "",
			Choice{}, []string{`has no profile "default"`, "brokerd install --default-profile NAME", "one of: dev, prod"}},
		{"typo", quickStart, []string{"dev"}, "prdo",
			Choice{}, []string{"--default-profile prdo: no such profile", "did you mean prod?", "(profiles: dev, prod)"}},
		{"nothing at all", "", nil, "", Choice{}, []string{"no profiles yet", "brokerd keys add NAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ChooseProfile(path, tt.keychain, Options{DefaultProfile: tt.asked, BinaryOnPath: true})
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Errorf("ChooseProfile(%q) = %+v, %v, want %+v", tt.asked, got, err, tt.want)
				}
				return
			}
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ChooseProfile(%q) = %+v, %v, want a one-line error", tt.asked, got, err)
			}
			for _, w := range tt.err {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ChooseProfile(%q) = %q, want it to say %q", tt.asked, err, w)
				}
			}
		})
	}
}

// TestChooseProfile_adviceRepeatsFlags checks that the install advised when
// there is no profile "default" repeats install's other flags.
func TestChooseProfile_adviceRepeatsFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("[profile dev]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Listen: "127.0.0.1:9922", BinaryOnPath: true}, "run `brokerd install --listen 127.0.0.1:9922 --default-profile NAME` with one of: dev"},
		{Options{Binary: "/opt/my tools/brokerd"}, "run `'/opt/my tools/brokerd' install --default-profile NAME` with one of: dev"},
	} {
		_, err := ChooseProfile(path, nil, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ChooseProfile(%+v) = %v, want it to say %q", tc.o, err, tc.want)
		}
	}
}
