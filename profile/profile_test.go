package profile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/brokerd/brokerd/profile"
)

const testConfig = `
[default]
region = eu-west-1

[profile base]
region = eu-central-1
mfa_serial = arn:aws:iam::111111111111:mfa/me

[profile dev]
role_arn = arn:aws:iam::222222222222:role/Dev
source_profile = base
external_id = ext-123
role_session_name = me@example.com
duration_seconds = 7200
region = us-east-2

[profile admin]
role_arn = arn:aws:iam::333333333333:role/Admin
source_profile = dev

[profile self]
role_arn = arn:aws:iam::444444444444:role/Self
source_profile = self
region = ap-south-1

[profile sso]
sso_session = corp
sso_start_url = https://corp.awsapps.com/start
credential_process = /bin/creds

[sso-session corp]
sso_region = us-east-1

[services local]
sts =
  endpoint_url = http://127.0.0.1:5000

[notaprofile]
role_arn = arn:aws:iam::555555555555:role/Ignored
`

func mustParse(t *testing.T, text string) *profile.Config {
	t.Helper()
	return profile.Parse("/home/me/.aws/config", []byte(text))
}

// checkParsed checks that text parses and holds profile want.
func checkParsed(t *testing.T, text string, want profile.Profile) {
	t.Helper()
	got, err := mustParse(t, text).Get(want.Name)
	if err != nil || !equalProfile(got, want) {
		t.Errorf("Parse(%q).Get(%q) = %+v, %v, want %+v", text, want.Name, got, err, want)
	}
}

func TestParse_Profiles(t *testing.T) {
	c := mustParse(t, testConfig)

	wantNames := []string{"admin", "base", "default", "dev", "self", "sso"}
	if got := c.Names(); !slices.Equal(got, wantNames) {
		t.Errorf("Names() = %q, want %q", got, wantNames)
	}
	tests := []struct {
		name string
		want profile.Profile
	}{
		{"default", profile.Profile{Name: "default", Region: "eu-west-1"}},
		{"base", profile.Profile{Name: "base", Region: "eu-central-1", MFASerial: "arn:aws:iam::111111111111:mfa/me"}},
		{"dev", profile.Profile{
			Name: "dev", RoleARN: "arn:aws:iam::222222222222:role/Dev", SourceProfile: "base",
			ExternalID: "ext-123", RoleSessionName: "me@example.com", Duration: 2 * time.Hour, Region: "us-east-2",
		}},
		{"admin", profile.Profile{Name: "admin", RoleARN: "arn:aws:iam::333333333333:role/Admin", SourceProfile: "dev"}},
		{"sso", profile.Profile{Name: "sso", CredentialProcess: "/bin/creds", SSOSession: "corp", SSOStartURL: "https://corp.awsapps.com/start",
			Unsupported: []string{"credential_process"}}},
	}
	for _, tt := range tests {
		got, err := c.Get(tt.name)
		if err != nil {
			t.Errorf("Get(%q) = %v", tt.name, err)
			continue
		}
		if !equalProfile(got, tt.want) {
			t.Errorf("Get(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
		if got.IsRole() != (tt.want.RoleARN != "") {
			t.Errorf("Get(%q).IsRole() = %v, want %v", tt.name, got.IsRole(), !got.IsRole())
		}
	}
	for _, name := range []string{"notaprofile", "corp", "local", "nope"} {
		if _, err := c.Get(name); !errors.Is(err, profile.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", name, err)
		}
	}
}

func equalProfile(a, b profile.Profile) bool {
	return reflect.DeepEqual(a, b) || (len(a.Unsupported) == 0 && len(b.Unsupported) == 0 &&
		reflect.DeepEqual(withoutUnsupported(a), withoutUnsupported(b)))
}

// withoutUnknown is p as the SDKs read it: they keep no unknown settings.
func withoutUnknown(p profile.Profile) profile.Profile {
	p.Unknown = nil
	return p
}

func withoutUnsupported(p profile.Profile) profile.Profile {
	p.Unsupported = nil
	return p
}

func TestConfig_GetNotFoundMessage(t *testing.T) {
	c := mustParse(t, testConfig)
	_, err := c.Get("nope")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "/home/me/.aws/config") {
		t.Errorf("Get(%q) = %v, want an error naming the profile and the file", "nope", err)
	}
}

func TestConfig_Source(t *testing.T) {
	c := mustParse(t, testConfig)
	tests := []struct {
		name      string
		wantSrc   string
		wantChain []string
	}{
		{"base", "base", nil},
		{"default", "default", nil},
		{"dev", "base", []string{"dev"}},
		// innermost first: dev is assumed from base's keys, then admin from dev's.
		{"admin", "base", []string{"dev", "admin"}},
		// A role that is its own source signs with its own keys.
		{"self", "self", []string{"self"}},
	}
	for _, tt := range tests {
		src, chain, err := c.Source(tt.name)
		if err != nil {
			t.Errorf("Source(%q) = %v", tt.name, err)
			continue
		}
		var names []string
		for _, p := range chain {
			names = append(names, p.Name)
		}
		if src.Name != tt.wantSrc || !slices.Equal(names, tt.wantChain) {
			t.Errorf("Source(%q) = %q, %q, want %q, %q", tt.name, src.Name, names, tt.wantSrc, tt.wantChain)
		}
		if src.IsRole() {
			t.Errorf("Source(%q) source %q is a role, want the profile whose keys sign", tt.name, src.Name)
		}
	}

	// The source of a self-sourced role keeps its settings but no role.
	src, _, _ := c.Source("self")
	if src.Region != "ap-south-1" || src.RoleARN != "" {
		t.Errorf("Source(%q) = %+v, want the profile's region and no role_arn", "self", src)
	}
	// A source profile's settings come along.
	src, _, _ = c.Source("admin")
	if src.MFASerial != "arn:aws:iam::111111111111:mfa/me" {
		t.Errorf("Source(%q).MFASerial = %q, want base's", "admin", src.MFASerial)
	}
}

func TestConfig_SourceErrors(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		profile     string
		wantIn      []string
		notFound    bool
		unsupported bool // ErrUnsupported, else ErrInvalid (or ErrNotFound)
	}{
		{
			name: "loop of two", profile: "a",
			text:   "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = a\n",
			wantIn: []string{"loops", `"a"`, "/home/me/.aws/config"},
		},
		{
			name: "loop of three entered midway", profile: "x",
			text: "[profile x]\nrole_arn = arn:aws:iam::1:role/X\nsource_profile = a\n" +
				"[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\n" +
				"[profile b]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = c\n" +
				"[profile c]\nrole_arn = arn:aws:iam::1:role/C\nsource_profile = a\n",
			wantIn: []string{"loops", `"a"`},
		},
		{
			name: "role without source", profile: "r",
			text:   "[profile r]\nrole_arn = arn:aws:iam::1:role/R\n",
			wantIn: []string{`"r"`, "no source_profile"},
		},
		{
			// A typo of source_profile is named, not only its absence.
			name: "role with misspelt source_profile", profile: "r",
			text:   "[profile r]\nrole_arn = arn:aws:iam::1:role/R\nsource_profil = dev\n",
			wantIn: []string{`"r"`, "no source_profile", "sets source_profil (did you mean source_profile?)", "fix [profile r] in /home/me/.aws/config"},
		},
		{
			name: "role with credential_source only", profile: "ec2",
			text:        "[profile ec2]\nrole_arn = arn:aws:iam::1:role/R\ncredential_source = Ec2InstanceMetadata\n",
			wantIn:      []string{`"ec2"`, "credential_source", "set source_profile"},
			unsupported: true,
		},
		{
			name: "role with credential_source and source_profile", profile: "env",
			text:   "[profile dev]\n[profile env]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = dev\ncredential_source = Environment\n",
			wantIn: []string{`"env"`, "both source_profile and credential_source"},
		},
		{
			name: "role with web identity only", profile: "k8s",
			text:        "[profile k8s]\nrole_arn = arn:aws:iam::1:role/R\nweb_identity_token_file = /var/run/token\n",
			wantIn:      []string{`"k8s"`, "assumes its role with web_identity_token_file", "set source_profile"},
			unsupported: true,
		},
		{
			name: "role with web identity and source_profile", profile: "k8s",
			text:   "[profile dev]\n[profile k8s]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = dev\nweb_identity_token_file = /t\n",
			wantIn: []string{`"k8s"`, "both source_profile and web_identity_token_file"},
		},
		{
			name: "role with its own credential_process", profile: "proc",
			text:        "[profile proc]\nrole_arn = arn:aws:iam::1:role/R\ncredential_process = get-creds\n",
			wantIn:      []string{`"proc"`, "its own credential_process", "set source_profile"},
			unsupported: true,
		},
		{
			name: "role with its own SSO settings", profile: "ssorole",
			text:        "[profile ssorole]\nrole_arn = arn:aws:iam::1:role/R\nsso_session = corp\nsso_account_id = 1\nsso_role_name = Dev\n",
			wantIn:      []string{`"ssorole"`, "its own IAM Identity Center settings", "move the sso_ settings", "source_profile = NAME"},
			unsupported: true,
		},
		{
			name: "credential_source on a role down the chain", profile: "top",
			text:        "[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = ec2\n[profile ec2]\nrole_arn = arn:aws:iam::1:role/R\ncredential_source = Ec2InstanceMetadata\n",
			wantIn:      []string{`"ec2"`, "credential_source"},
			unsupported: true,
		},
		{
			name: "no such profile", profile: "nope",
			text:     "[profile a]\n",
			wantIn:   []string{`"nope"`},
			notFound: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.text)
			src, chain, err := c.Source(tt.profile)
			if err == nil {
				t.Fatalf("Source(%q) = %q, %d roles, want an error", tt.profile, src.Name, len(chain))
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Source(%q) = %q, want %q in it", tt.profile, err, s)
				}
			}
			if got := errors.Is(err, profile.ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(Source(%q), ErrNotFound) = %v, want %v", tt.profile, got, tt.notFound)
			}
			if got := errors.Is(err, profile.ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(Source(%q), ErrUnsupported) = %v, want %v", tt.profile, got, tt.unsupported)
			}
			if got := errors.Is(err, profile.ErrInvalid); got != (!tt.notFound && !tt.unsupported) {
				t.Errorf("errors.Is(Source(%q), ErrInvalid) = %v, want %v", tt.profile, got, !got)
			}
		})
	}
}

// A source profile needs no section of its own: its keys are in the
// keychain, and the broker finds out whether they are there. The source
// then has only its name.
func TestConfig_SourceWithoutSection(t *testing.T) {
	c := mustParse(t, "[profile dev]\nrole_arn = arn:aws:iam::1:role/Dev\nsource_profile = base\nregion = eu-west-1\n")
	src, chain, err := c.Source("dev")
	if err != nil {
		t.Fatalf("Source(%q) with source_profile %q not in the file = %v, want the source by name", "dev", "base", err)
	}
	if want := (profile.Profile{Name: "base"}); !equalProfile(src, want) {
		t.Errorf("Source(%q) source = %+v, want %+v", "dev", src, want)
	}
	if len(chain) != 1 || chain[0].Name != "dev" {
		t.Errorf("Source(%q) chain = %+v, want [dev]", "dev", chain)
	}
}

func TestParse_Invalid(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		wantIn []string
	}{
		{"duration too short", "[profile a]\nduration_seconds = 899\n", []string{"duration_seconds", "899"}},
		{"duration too long", "[profile a]\nduration_seconds = 129601\n", []string{"duration_seconds"}},
		// AssumeRole takes at most 12 hours; GetSessionToken, for a source
		// profile, 36.
		{"role duration over 12 hours", "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\nduration_seconds = 43201\n", []string{"duration_seconds", "43201", "43200 or less"}},
		{"duration with unit", "[profile a]\nduration_seconds = 1h\n", []string{"duration_seconds", "1h"}},
		{"duration negative", "[profile a]\nduration_seconds = -900\n", []string{"duration_seconds"}},
		{"duration fraction", "[profile a]\nduration_seconds = 900.5\n", []string{"duration_seconds"}},
		{"role_arn not an ARN", "[profile a]\nrole_arn = Dev\nsource_profile = b\n", []string{"role_arn", `"Dev"`}},
		{"role_arn role name only", "[profile a]\nrole_arn = role/Dev\n", []string{"role_arn"}},
		// The SDKs refuse a source_profile without a role to assume.
		{"source_profile without role_arn", "[profile a]\nsource_profile = b\n", []string{"source_profile = b but no role_arn", "add role_arn"}},
		{"source_profile with misspelt role_arn", "[profile a]\nsource_profile = b\nrole_ar = arn:aws:iam::1:role/A\n", []string{"no role_arn (it sets role_ar: did you mean role_arn?)"}},
		{"session name one char", "[profile a]\nrole_session_name = x\n", []string{"role_session_name"}},
		{"session name with space", "[profile a]\nrole_session_name = my name\n", []string{"role_session_name"}},
		{"session name with slash", "[profile a]\nrole_session_name = me/you\n", []string{"role_session_name"}},
		{"session name too long", "[profile a]\nrole_session_name = " + strings.Repeat("x", 65) + "\n", []string{"role_session_name"}},
		{"default profile checked too", "[default]\nduration_seconds = 10\n", []string{`"default"`, "duration_seconds"}},
	}
	// Like the SDKs, a bad value fails only the profile that has it: the
	// file parses, other profiles work, and using the bad one (directly or
	// as a source) says what is wrong.
	const good = "[profile ok]\nregion = eu-west-1\n[profile r]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = "
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "a"
			if strings.HasPrefix(tt.text, "[default]") {
				name = "default"
			}
			c := profile.Parse("/home/me/.aws/config", []byte(good+name+"\n"+tt.text))
			if _, err := c.Get("ok"); err != nil {
				t.Errorf("Get(ok) beside a bad profile = %v, want it to work", err)
			}
			_, err := c.Get(name)
			_, _, serr := c.Source("r")
			for _, e := range []error{err, serr} {
				if e == nil {
					t.Fatalf("Get(%q) / Source(r) of %q = nil error, want one", name, tt.text)
				}
				for _, s := range append(tt.wantIn, "/home/me/.aws/config") {
					if !strings.Contains(e.Error(), s) {
						t.Errorf("Get(%q) / Source(r) of %q = %q, want %q in it", name, tt.text, e, s)
					}
				}
			}
		})
	}
}

func TestParse_Valid(t *testing.T) {
	tests := []struct {
		name string
		text string
		want profile.Profile
	}{
		{"shortest duration", "[profile a]\nduration_seconds = 900\n", profile.Profile{Name: "a", Duration: 15 * time.Minute}},
		{"longest duration", "[profile a]\nduration_seconds = 129600\n", profile.Profile{Name: "a", Duration: 36 * time.Hour}},
		{"longest role duration", "[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = b\nduration_seconds = 43200\n",
			profile.Profile{Name: "a", RoleARN: "arn:aws:iam::1:role/A", SourceProfile: "b", Duration: 12 * time.Hour}},
		{"session name two chars", "[profile a]\nrole_session_name = ab\n", profile.Profile{Name: "a", RoleSessionName: "ab"}},
		{"session name all classes", "[profile a]\nrole_session_name = A_z0+=,.@-\n", profile.Profile{Name: "a", RoleSessionName: "A_z0+=,.@-"}},
		{"session name 64 chars", "[profile a]\nrole_session_name = " + strings.Repeat("x", 64) + "\n", profile.Profile{Name: "a", RoleSessionName: strings.Repeat("x", 64)}},
		{"spaces around", "[ profile  a ]\n  role_arn =  arn:aws:iam::1:role/R  \nsource_profile=b\n", profile.Profile{Name: "a", RoleARN: "arn:aws:iam::1:role/R", SourceProfile: "b"}},
		{"govcloud arn", "[profile a]\nrole_arn = arn:aws-us-gov:iam::1:role/R\n", profile.Profile{Name: "a", RoleARN: "arn:aws-us-gov:iam::1:role/R"}},
		{"comments", "# top\n[profile a] ; here\n; role_arn = arn:aws:iam::1:role/R\nregion = eu-west-1\n", profile.Profile{Name: "a", Region: "eu-west-1"}},
		{"web identity", "[profile a]\nweb_identity_token_file = /t\n", profile.Profile{Name: "a", Unsupported: []string{"web_identity_token_file"}}},
		{"mfa_process", "[profile a]\nmfa_process = op read x\n", profile.Profile{Name: "a", MFAProcess: "op read x"}},
		// Values read as the SDKs and the aws CLI read them.
		{"comment after space", "[profile a]\nregion = eu-west-1 # Ireland\nexternal_id = x ; y\n", profile.Profile{Name: "a", Region: "eu-west-1", ExternalID: "x"}},
		{"hash inside value", "[profile a]\nexternal_id = ab#cd\n", profile.Profile{Name: "a", ExternalID: "ab#cd"}},
		{"semicolon inside value", "[profile a]\nmfa_process = op item get 'x;y'\n", profile.Profile{Name: "a", MFAProcess: "op item get 'x;y'"}},
		{"no interpolation", "[profile a]\nexternal_id = %(region)s\nregion = r\n", profile.Profile{Name: "a", ExternalID: "%(region)s", Region: "r"}},
		{"no continuation", "[profile a]\nmfa_process = run \\\nregion = r\n", profile.Profile{Name: "a", MFAProcess: "run \\", Region: "r"}},
		{"endpoint_url", "[profile a]\nendpoint_url = http://127.0.0.1:5000\n", profile.Profile{Name: "a", EndpointURL: "http://127.0.0.1:5000"}},
		// aws-sdk-go-v2 reads an integer with a leading 0 as octal (0900 is
		// no number to it, so no duration); botocore, like brokerd, as
		// decimal. FuzzParse does not compare such durations.
		{"duration with leading zero", "[profile a]\nduration_seconds = 0900\n", profile.Profile{Name: "a", Duration: 15 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParsed(t, tt.text, tt.want)
		})
	}
}

// TestParse_AsSDK reads files as aws-sdk-go-v2's config package does, and
// checks the profile against what that package itself reads.
func TestParse_AsSDK(t *testing.T) {
	const arn = "arn:aws:iam::1:role/R"
	tests := []struct {
		name string
		text string
		want profile.Profile
	}{
		{"key names in any case", "[profile a]\nRole_ARN = " + arn + "\nSOURCE_PROFILE = b\nRegion = r\n[profile b]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
			profile.Profile{Name: "a", RoleARN: arn, SourceProfile: "b", Region: "r"}},
		{"section names keep their case", "[profile A]\nregion = upper\n[profile a]\nregion = lower\n",
			profile.Profile{Name: "a", Region: "lower"}},
		{"line of words skipped", "[profile a]\njust words\nregion = r\n", profile.Profile{Name: "a", Region: "r"}},
		{"empty key skipped", "[profile a]\n= x\nregion = r\n", profile.Profile{Name: "a", Region: "r"}},
		{"quoted key is not the key", "[profile a]\n\"region\" = q\nmfa_serial = m\n", profile.Profile{Name: "a", MFASerial: "m", Unknown: []string{`"region"`}}},
		// The SDKs skip a header that does not close, so what follows
		// stays in the section before it.
		{"unclosed header skipped", "[profile a]\nregion = r\n[profile b\nmfa_serial = m\n",
			profile.Profile{Name: "a", Region: "r", MFASerial: "m"}},
		{"keys after empty header dropped", "[profile a]\nregion = r\n[]\nmfa_serial = m\n", profile.Profile{Name: "a", Region: "r"}},
		{"dotted name inherits nothing", "[profile a]\nregion = r\n[profile a.b]\nmfa_serial = m\n",
			profile.Profile{Name: "a.b", MFASerial: "m"}},
		// [profile default] replaces [default] whole, whichever comes first.
		{"profile default after default", "[default]\nregion = plain\nmfa_serial = m\n[profile default]\nregion = prefixed\n",
			profile.Profile{Name: "default", Region: "prefixed"}},
		{"profile default before default", "[profile default]\nregion = prefixed\n[default]\nregion = plain\nmfa_serial = m\n",
			profile.Profile{Name: "default", Region: "prefixed"}},
		{"default alone", "[default]\nregion = plain\n", profile.Profile{Name: "default", Region: "plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParsed(t, tt.text, tt.want)
			sdk := sdkProfile(t, tt.text, tt.want.Name)
			if want := withoutUnknown(tt.want); !equalProfile(sdk, want) {
				t.Errorf("aws-sdk-go-v2 reads %q in %q as %+v, want %+v", tt.want.Name, tt.text, sdk, want)
			}
		})
	}
	// Invalid profiles too: [profile default] replaces [default] whole.
	c := mustParse(t, "[profile default]\nduration_seconds = 1\n[default]\nregion = r\n")
	if _, err := c.Get("default"); !errors.Is(err, profile.ErrInvalid) {
		t.Errorf("Get(%q) with an invalid [profile default] = %v, want ErrInvalid", "default", err)
	}
}

// sdkShared returns profile name of the config file text as
// aws-sdk-go-v2's shared config reads it, with no credentials file.
func sdkShared(t *testing.T, text, name string) config.SharedConfig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := config.LoadSharedConfigProfile(t.Context(), name, func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles = []string{path}
		o.CredentialsFiles = []string{}
	})
	if err != nil {
		t.Fatalf("config.LoadSharedConfigProfile(%q) of %q = %v", name, text, err)
	}
	return sc
}

// sdkProfile returns profile name of text as aws-sdk-go-v2 reads it.
func sdkProfile(t *testing.T, text, name string) profile.Profile {
	t.Helper()
	sc := sdkShared(t, text, name)
	p := profile.Profile{Name: name, RoleARN: sc.RoleARN, SourceProfile: sc.SourceProfileName, ExternalID: sc.ExternalID,
		RoleSessionName: sc.RoleSessionName, Region: sc.Region, MFASerial: sc.MFASerial}
	if sc.RoleDurationSeconds != nil {
		p.Duration = *sc.RoleDurationSeconds
	}
	return p
}

// A value opened with """ or a backtick that never closes is read as it
// stands, as the SDKs read it (ini libraries run on to a closing quote).
func TestParse_OpenQuotes(t *testing.T) {
	for text, want := range map[string]string{
		"[profile a]\nregion = \"\"\"x\n": `"""x`,
		"[profile a]\nregion = `x\n":      "`x",
		"[profile a]\nregion = '\n":       "'",
	} {
		p, err := mustParse(t, text).Get("a")
		if err != nil || p.Region != want {
			t.Errorf("Parse(%q).Get(a) = region %q, %v, want %q", text, p.Region, err, want)
		}
	}
}

func TestParse_Empty(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# nothing\n"} {
		c := mustParse(t, text)
		if n := c.Names(); len(n) != 0 {
			t.Errorf("Parse(%q).Names() = %q, want none", text, n)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	c, err := profile.Load(path)
	if err != nil || len(c.Names()) != 0 || c.Path != path {
		t.Fatalf("Load(%q) of a missing file = %+v, %v, want an empty config", path, c, err)
	}
	if err := os.WriteFile(path, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = profile.Load(path)
	if err != nil {
		t.Fatalf("Load(%q) = %v", path, err)
	}
	if _, err := c.Get("dev"); err != nil {
		t.Errorf("Load(%q).Get(dev) = %v", path, err)
	}
	if _, err := profile.Load(dir); err == nil || !strings.Contains(err.Error(), dir) || !errors.Is(err, profile.ErrInvalid) {
		t.Errorf("Load(%q) of a directory = %v, want ErrInvalid naming it", dir, err)
	}
}

func TestPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	tests := []struct {
		env  string
		want string
	}{
		{"", filepath.Join(home, ".aws", "config")},
		{"/etc/aws/config", "/etc/aws/config"},
		{"~/cfg/aws", filepath.Join(home, "cfg", "aws")},
		{"~", home},
		{"relative/config", "relative/config"},
	}
	for _, tt := range tests {
		t.Setenv("AWS_CONFIG_FILE", tt.env)
		if got, err := profile.Path(); err != nil || got != tt.want {
			t.Errorf("Path() with AWS_CONFIG_FILE=%q = %q, %v, want %q", tt.env, got, err, tt.want)
		}
	}
}

// FuzzParse checks that Parse takes any text, that what it reads holds
// together (sorted names, durations STS takes, chains of roles ending at a
// source), and that each profile it reads is read as aws-sdk-go-v2's own
// loader reads it: role_arn, source_profile, region, mfa_serial and
// duration_seconds. Where the SDK fails on the profile, or panics, there
// is nothing to compare; a profile brokerd refuses is not listed.
func FuzzParse(f *testing.F) {
	f.Add([]byte(testConfig))
	f.Add([]byte("[profile a]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = a\n"))
	f.Add([]byte("[profile a]\nrole_arn = arn:x\nsource_profile = b\n[profile b]\nrole_arn = arn:y\nsource_profile = a\n"))
	f.Add([]byte("[default]\nduration_seconds = 900\n[profile  x ]\nregion=r ; c\n"))
	f.Add([]byte("[profile a\n"))
	// Sources with keys, so that the SDK resolves the roles too.
	f.Add([]byte("[profile base]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\nregion = eu-west-1\nmfa_serial = arn:aws:iam::1:mfa/me\n" +
		"[profile dev]\nrole_arn = arn:aws:iam::1:role/Dev\nsource_profile = base\nduration_seconds = 3600\nregion = us-east-2 # Ohio\n"))
	f.Add([]byte("[default]\r\nRegion: eu-west-1\r\nMFA_Serial = 'arn:aws:iam::1:mfa/me'\r\n[profile default]\r\nregion = \"us-west-2\"\r\n"))
	f.Add([]byte("[ profile r ] ; c\nrole_arn=arn:aws:iam::1:role/R\nsource_profile=r\naws_access_key_id=A\naws_secret_access_key=B\nduration_seconds=+0900\n"))
	// IAM Identity Center: a session, the legacy form and a role from it.
	f.Add([]byte("[sso-session s]\nsso_start_url = https://s.awsapps.com/start\nsso_region = eu-west-1\n" +
		"[profile d]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n[profile r]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = d\n" +
		"[profile l]\nsso_start_url = https://l\nsso_region = us-east-1\nsso_account_id = 2\nsso_role_name = L\n"))
	// STS endpoints: a services section, and a profile that ignores them.
	f.Add([]byte("[profile a]\nendpoint_url = http://g\nservices = s\n[services s]\nsts =\n  endpoint_url = http://sts # c\n" +
		"[profile b]\nservices = s\nignore_configured_endpoint_urls = True\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c := profile.Parse("config", text)
		names := c.Names()
		if !slices.IsSorted(names) {
			t.Fatalf("Parse(%q).Names() = %q, want sorted", text, names)
		}
		for _, n := range names {
			p, err := c.Get(n)
			if err != nil || p.Name != n {
				t.Fatalf("Parse(%q).Get(%q) = %+v, %v, want the profile", text, n, p, err)
			}
			if p.Duration != 0 && (p.Duration < 15*time.Minute || p.Duration > 36*time.Hour) {
				t.Fatalf("Parse(%q).Get(%q).Duration = %v, out of STS's bounds", text, n, p.Duration)
			}
			src, chain, err := c.Source(n)
			if err != nil {
				continue
			}
			if src.IsRole() {
				t.Fatalf("Parse(%q).Source(%q) = role %q, want the profile whose keys sign", text, n, src.Name)
			}
			for _, r := range chain {
				if !r.IsRole() {
					t.Fatalf("Parse(%q).Source(%q) chain holds %q, not a role", text, n, r.Name)
				}
			}
			if p.IsRole() != (len(chain) > 0) {
				t.Fatalf("Parse(%q).Source(%q) chain = %d roles, want some exactly when it is a role", text, n, len(chain))
			}
		}

		if len(names) == 0 {
			return
		}
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path, text, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			sdk, ok := sdkProfileOK(t, path, n)
			if !ok {
				continue
			}
			p, _ := c.Get(n)
			got, want := compared(p), compared(sdk)
			if octalDuration.Match(text) {
				got.Duration, want.Duration = 0, 0 // see TestParse_Valid
			}
			if got != want {
				t.Fatalf("Parse(%q).Get(%q) = %+v, but aws-sdk-go-v2 reads %+v", text, n, got, want)
			}
		}
	})
}

// sdkProfileOK returns profile name of the config file at path as
// aws-sdk-go-v2 reads it, and false when the SDK fails on it or panics
// (its unquoting of a value that is a lone quote slices out of range).
func sdkProfileOK(t *testing.T, path, name string) (p profile.Profile, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	sc, err := config.LoadSharedConfigProfile(t.Context(), name, func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles = []string{path}
		o.CredentialsFiles = []string{}
	})
	if err != nil {
		return profile.Profile{}, false
	}
	p = profile.Profile{Name: name, RoleARN: sc.RoleARN, SourceProfile: sc.SourceProfileName, ExternalID: sc.ExternalID,
		RoleSessionName: sc.RoleSessionName, Region: sc.Region, MFASerial: sc.MFASerial, EndpointURL: sdkSTSEndpoint(sc),
		SSOSession: sc.SSOSessionName, SSOStartURL: sc.SSOStartURL, SSORegion: sc.SSORegion, SSOAccountID: sc.SSOAccountID, SSORoleName: sc.SSORoleName}
	if sc.RoleDurationSeconds != nil {
		p.Duration = *sc.RoleDurationSeconds
	}
	return p, true
}

// sdkSTSEndpoint is the endpoint that aws-sdk-go-v2 sends the STS calls of
// profile sc to, when the environment sets none: none when the profile
// ignores configured endpoints, else the endpoint_url of sts in its
// services section, else its endpoint_url (config's resolveBaseEndpoint
// and sts's; TestParse_STSEndpoint checks this against an STS client).
func sdkSTSEndpoint(sc config.SharedConfig) string {
	if sc.IgnoreConfiguredEndpoints != nil && *sc.IgnoreConfiguredEndpoints {
		return ""
	}
	if u := sc.Services.ServiceValues["sts"]["endpoint_url"]; u != "" {
		return u
	}
	return sc.BaseEndpoint
}

// octalDuration matches a duration_seconds whose digits start with 0, which
// aws-sdk-go-v2 reads as octal and brokerd as decimal.
var octalDuration = regexp.MustCompile(`(?im)^[ \t]*duration_seconds[ \t]*[=:][ \t]*["']?[+-]?0[0-9_]`)

// sdkFields are the settings FuzzParse compares with the SDK's reading.
type sdkFields struct {
	RoleARN, SourceProfile, Region, MFASerial, EndpointURL string
	Duration                                               time.Duration
	SSOSession, SSOStartURL, SSORegion                     string
	SSOAccount, SSORole                                    string
}

func compared(p profile.Profile) sdkFields {
	f := sdkFields{p.RoleARN, p.SourceProfile, p.Region, p.MFASerial, p.EndpointURL, p.Duration,
		p.SSOSession, p.SSOStartURL, p.SSORegion, p.SSOAccountID, p.SSORoleName}
	if p.SourceProfile != "" {
		// The SDK drops the legacy SSO settings of a profile whose
		// source_profile signs; brokerd does not use them either.
		f.SSOStartURL, f.SSORegion, f.SSOAccount, f.SSORole = "", "", "", ""
	}
	return f
}

// TestParse_SourceWithoutRole checks that a source_profile without
// role_arn is refused, as aws-sdk-go-v2 refuses it, rather than read as a
// profile whose own keys sign.
func TestParse_SourceWithoutRole(t *testing.T) {
	const text = "[profile base]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n[profile a]\nsource_profile = base\nregion = r\n"
	if _, err := mustParse(t, text).Plan("a"); !errors.Is(err, profile.ErrInvalid) || !strings.Contains(err.Error(), "no role_arn") {
		t.Errorf("Plan(a) of %q = %v, want ErrInvalid saying there is no role_arn", text, err)
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := sdkProfileOK(t, path, "a"); ok {
		t.Errorf("aws-sdk-go-v2 reads profile a of %q, want it refused too", text)
	}
}

// A value continued over many lines is read in one pass: appending each
// line to the value in turn copied it each time, so that a file of 5,000
// such lines (200 kB) made half a gigabyte of garbage, and one of 50,000 took
// a minute to parse.
func TestParse_LongContinuation(t *testing.T) {
	const n = 5000
	line := "  the same long line of a value continued\n"
	text := "[profile a]\nmfa_process = first\n" + strings.Repeat(line, n) + "region = r\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, err := mustParse(t, text).Get("a")
	runtime.ReadMemStats(&after)
	want := "first" + strings.Repeat("\n"+strings.TrimSpace(line), n)
	if err != nil || p.MFAProcess != want || p.Region != "r" {
		t.Fatalf("Parse(%d continuation lines).Get(a) = mfa_process of %d bytes, region %q, %v; want %d bytes, region r", n, len(p.MFAProcess), p.Region, err, len(want))
	}
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(20*len(text)); got > limit {
		t.Errorf("Parse(%d bytes of continuation lines) allocated %d bytes, want at most %d", len(text), got, limit)
	}
}

// TestLoad_NotARegularFile checks that a named pipe as the config file
// (AWS_CONFIG_FILE=<(…)) is refused at once: reading it waited for a
// writer, for ever in the daemon.
func TestLoad_NotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := profile.Load(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, profile.ErrInvalid) || !strings.Contains(err.Error(), "a named pipe") {
			t.Errorf("Load(named pipe) = %v, want ErrInvalid naming a named pipe", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load(named pipe) still waits for a writer")
	}
}

func TestReadFile_TooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, make([]byte, profile.MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := profile.ReadFile(path); err == nil || !strings.Contains(err.Error(), "over 16 MiB") {
		t.Errorf("ReadFile(16 MiB + 1) = %v, want an error naming the limit", err)
	}
}

// TestLoadNames checks the names of a config file, and that a missing
// file has none.
func TestLoadNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte("[default]\n[profile dev]\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n[sso-session my-sso]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path                  string
		profiles, ssoSessions []string
	}{
		{path, []string{"default", "dev", "prod"}, []string{"my-sso"}},
		{filepath.Join(dir, "none"), []string{}, []string{}},
	}
	for _, tt := range tests {
		profiles, sessions, err := profile.LoadNames(tt.path)
		if err != nil || !slices.Equal(profiles, tt.profiles) || !slices.Equal(sessions, tt.ssoSessions) {
			t.Errorf("LoadNames(%s) = %q, %q, %v; want %q, %q", strings.TrimPrefix(tt.path, dir), profiles, sessions, err, tt.profiles, tt.ssoSessions)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", path)
	if profiles, _, err := profile.LoadNames(""); err != nil || len(profiles) != 3 {
		t.Errorf("LoadNames(\"\") with AWS_CONFIG_FILE = %q, %v; want its three profiles", profiles, err)
	}
}
