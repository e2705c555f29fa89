package profile_test

import (
	"slices"
	"testing"

	"github.com/brokerd/brokerd/profile"
)

func TestParse_Unknown(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"none", "[profile a]\nregion = r\noutput = json\ncli_pager =\ncli_history = enabled\n", nil},
		{"typo of role_arn", "[profile a]\nrole_arm = arn:aws:iam::1:role/R\n", []string{"role_arm"}},
		{"sorted, in lower case", "[profile a]\nZeta = 1\nmfa_serail = m\nAlpha = 2\n", []string{"alpha", "mfa_serail", "zeta"}},
		{"keys of the SDKs are known", "[profile a]\naws_access_key_id = AKID\naws_account_id = 1\nsso_registration_scopes = s\nmfa_process = p\n", nil},
		// An empty value reads as unset; a key with nested values opens them.
		{"empty value", "[profile a]\nrole_arm =\n", nil},
		{"nested values", "[profile a]\ns3 =\n  max_concurrent_requests = 20\n", nil},
		{"quoted key", "[profile a]\n\"role_arn\" = arn:aws:iam::1:role/R\n", []string{`"role_arn"`}},
		{"other sections", "[profile a]\n[sso-session s]\nsso_regoin = r\n[services x]\nsts =\n  endpoint_url = u\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mustParse(t, tt.text).Get("a")
			if err != nil || !slices.Equal(p.Unknown, tt.want) {
				t.Errorf("Parse(%q).Get(a).Unknown = %q, %v, want %q", tt.text, p.Unknown, err, tt.want)
			}
		})
	}
}

func TestProfile_Misspelling(t *testing.T) {
	tests := []struct {
		unknown []string
		setting string
		want    string
	}{
		{[]string{"role_arm"}, "role_arn", "role_arm"},
		{[]string{"foo", "sorce_profile"}, "source_profile", "sorce_profile"},
		{[]string{"mfa_serail"}, "mfa_serial", "mfa_serail"},
		{[]string{"sso_sesion"}, "sso_session", "sso_sesion"},
		{[]string{"role_arm"}, "source_profile", ""},
		{[]string{"colour"}, "role_arn", ""},
		// Nearer another setting than the one asked about.
		{[]string{"sso_regoin"}, "sso_session", ""},
		{[]string{"role_arm"}, "", ""},
		{nil, "role_arn", ""},
	}
	for _, tt := range tests {
		p := profile.Profile{Name: "a", Unknown: tt.unknown}
		if got := p.Misspelling(tt.setting); got != tt.want {
			t.Errorf("Profile{Unknown: %q}.Misspelling(%q) = %q, want %q", tt.unknown, tt.setting, got, tt.want)
		}
	}
}

func TestIsSetting(t *testing.T) {
	for key, want := range map[string]bool{
		"role_arn": true, "region": true, "output": true, "cli_pager": true, "mfa_process": true,
		"role_arm": false, "Role_ARN": false, "": false,
	} {
		if got := profile.IsSetting(key); got != want {
			t.Errorf("IsSetting(%q) = %v, want %v", key, got, want)
		}
	}
	if s := profile.Settings(); !slices.Contains(s, "source_profile") || slices.Contains(s, "cli_pager") {
		t.Errorf("Settings() = %q, want the settings without cli_*", s)
	}
}
