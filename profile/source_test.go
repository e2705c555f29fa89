package profile_test

import (
	"slices"
	"testing"
)

// TestConfig_SourceWithKeys checks that a source_profile whose section
// holds keys signs with them, its own role_arn unused, as aws-sdk-go-v2
// (and botocore) resolve it, while the first profile of the chain assumes
// its role whatever keys it holds.
func TestConfig_SourceWithKeys(t *testing.T) {
	const keys = "aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n"
	const base = "[profile base]\n" + keys
	tests := []struct {
		name, text, profile string
		wantSrc             string
		wantChain           []string
		// sdkRefuses: the SDKs refuse the profile (partial credentials),
		// where brokerd signs with the keys in its keychain.
		sdkRefuses bool
	}{
		{"source with keys and a role signs with its keys", base +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = base\n" + keys +
			"[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"top", "mid", []string{"top"}, false},
		{"the first profile assumes its role all the same", base +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = base\n" + keys,
			"mid", "base", []string{"mid"}, false},
		{"a source without keys is assumed", base +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = base\n" +
			"[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"top", "base", []string{"mid", "top"}, false},
		{"a key id alone is no keys", base +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = base\naws_access_key_id = AKIDEXAMPLE\n" +
			"[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"top", "base", []string{"mid", "top"}, true},
		{"keys deeper down the chain", base +
			"[profile low]\nrole_arn = arn:aws:iam::1:role/L\nsource_profile = base\n" + keys +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = low\n" +
			"[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"top", "low", []string{"mid", "top"}, false},
		{"a self-sourced source with keys", "[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = mid\n" + keys +
			"[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"top", "mid", []string{"top"}, false},
		{"a loop broken by keys", "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\n" + keys +
			"[profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = a\n" + keys,
			"a", "b", []string{"a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, chain, err := mustParse(t, tt.text).Source(tt.profile)
			if err != nil {
				t.Fatalf("Source(%q) of %q = %v", tt.profile, tt.text, err)
			}
			var names []string
			for _, p := range chain {
				names = append(names, p.Name)
			}
			if src.Name != tt.wantSrc || !slices.Equal(names, tt.wantChain) || src.IsRole() {
				t.Errorf("Source(%q) of %q = %q (role %q), %q; want %q, %q", tt.profile, tt.text, src.Name, src.RoleARN, names, tt.wantSrc, tt.wantChain)
			}
			if tt.sdkRefuses {
				return
			}
			sdkSrc, sdkChain := sdkSource(t, tt.text, tt.profile)
			if sdkSrc != tt.wantSrc || !slices.Equal(sdkChain, tt.wantChain) {
				t.Errorf("aws-sdk-go-v2 resolves %q of %q to %q, %q; want %q, %q", tt.profile, tt.text, sdkSrc, sdkChain, tt.wantSrc, tt.wantChain)
			}
		})
	}
}

// sdkSource returns the profile whose keys sign for name in text, and the
// roles assumed from it, innermost first, as aws-sdk-go-v2 resolves them.
func sdkSource(t *testing.T, text, name string) (string, []string) {
	t.Helper()
	sc := sdkShared(t, text, name)
	var chain []string
	p := &sc
	for p.RoleARN != "" && p.Source != nil {
		chain = append([]string{p.Profile}, chain...)
		p = p.Source
	}
	if p.RoleARN != "" && !p.Credentials.HasKeys() {
		chain = append([]string{p.Profile}, chain...) // assumed with its own keys, which the SDK has not
	}
	return p.Profile, chain
}
