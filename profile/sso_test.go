package profile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/brokerd/brokerd/profile"
)

const ssoConfig = `
[sso-session my-sso]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access , codewhisperer:completions

[ sso-session  spaced ]
sso_start_url = https://spaced.awsapps.com/start
sso_region = us-east-1

[profile sso-dev]
sso_session = my-sso
sso_account_id = 111111111111
sso_role_name = Developer
region = us-east-2

[profile sso-admin]
role_arn = arn:aws:iam::222222222222:role/Admin
source_profile = sso-dev
mfa_serial = arn:aws:iam::111111111111:mfa/me

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-west-2
sso_account_id = 333333333333
sso_role_name = ReadOnly

[profile sso-with-process]
sso_session = spaced
sso_account_id = 444444444444
sso_role_name = Ops
credential_process = /bin/creds
`

func TestParse_SSOSessions(t *testing.T) {
	c := mustParse(t, ssoConfig)
	if got, want := c.SSOSessionNames(), []string{"my-sso", "spaced"}; !slices.Equal(got, want) {
		t.Errorf("SSOSessionNames() = %q, want %q", got, want)
	}
	got, err := c.SSOSession("my-sso")
	want := profile.SSOSession{Name: "my-sso", StartURL: "https://my-sso-portal.awsapps.com/start", Region: "eu-west-1",
		Scopes: []string{"sso:account:access", "codewhisperer:completions"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SSOSession(%q) = %+v, %v, want %+v", "my-sso", got, err, want)
	}
	if _, err := c.SSOSession("nope"); !errors.Is(err, profile.ErrNotFound) {
		t.Errorf("SSOSession(%q) = %v, want ErrNotFound", "nope", err)
	}
	// A session is not a profile.
	if _, err := c.Get("my-sso"); !errors.Is(err, profile.ErrNotFound) {
		t.Errorf("Get(%q) = %v, want ErrNotFound", "my-sso", err)
	}
	if slices.Contains(c.Names(), "sso-session my-sso") {
		t.Errorf("Names() = %q, want no sso-session section among the profiles", c.Names())
	}
}

func TestConfig_PlanSSO(t *testing.T) {
	c := mustParse(t, ssoConfig)
	mySSO, _ := c.SSOSession("my-sso")
	spaced, _ := c.SSOSession("spaced")
	tests := []struct {
		name      string
		wantSrc   string
		wantChain []string
		wantSSO   profile.SSOSession
		wantLogin string
		wantReg   string
	}{
		{"sso-dev", "sso-dev", nil, mySSO, "my-sso", "us-east-2"},
		// A role chained from an SSO profile starts from its credentials;
		// the role's mfa_serial cannot apply to them.
		{"sso-admin", "sso-dev", []string{"sso-admin"}, mySSO, "my-sso", ""},
		// The legacy form has no session name: the profile logs in.
		{"legacy", "legacy", nil, profile.SSOSession{StartURL: "https://legacy.awsapps.com/start", Region: "us-west-2"}, "legacy", ""},
		// The SDKs take SSO before credential_process.
		{"sso-with-process", "sso-with-process", nil, spaced, "spaced", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Plan(tt.name)
			if err != nil {
				t.Fatalf("Plan(%q) = %v", tt.name, err)
			}
			var chain []string
			for _, r := range p.Chain {
				chain = append(chain, r.Name)
			}
			if p.Kind != profile.KindSSO || p.Source.Name != tt.wantSrc || !slices.Equal(chain, tt.wantChain) {
				t.Errorf("Plan(%q) = kind %q, source %q, chain %q, want %q, %q, %q", tt.name, p.Kind, p.Source.Name, chain, profile.KindSSO, tt.wantSrc, tt.wantChain)
			}
			if !reflect.DeepEqual(p.SSO, tt.wantSSO) {
				t.Errorf("Plan(%q).SSO = %+v, want %+v", tt.name, p.SSO, tt.wantSSO)
			}
			if got := p.LoginName(); got != tt.wantLogin {
				t.Errorf("Plan(%q).LoginName() = %q, want %q", tt.name, got, tt.wantLogin)
			}
			if p.MFASerial != "" || p.MFAProcess != "" {
				t.Errorf("Plan(%q) MFA = %q, %q, want none for SSO credentials", tt.name, p.MFASerial, p.MFAProcess)
			}
			if p.Region != tt.wantReg {
				t.Errorf("Plan(%q).Region = %q, want %q", tt.name, p.Region, tt.wantReg)
			}
		})
	}
	// Other kinds keep their login name: the source profile.
	c = mustParse(t, testConfig)
	if p, err := c.Plan("admin"); err != nil || p.Kind != profile.KindMFA || p.LoginName() != "base" {
		t.Errorf("Plan(admin) = %+v, %v, want an MFA plan logging in as base", p, err)
	}
}

func TestConfig_PlanSSOErrors(t *testing.T) {
	const session = "[sso-session s]\nsso_start_url = https://s.awsapps.com/start\nsso_region = eu-west-1\n"
	tests := []struct {
		name   string
		text   string
		wantIn []string
	}{
		{"no session section", "[profile a]\nsso_session = nope\nsso_account_id = 1\nsso_role_name = R\n",
			[]string{`"a"`, "[sso-session nope]", "sso_start_url and sso_region"}},
		{"session without start url", "[sso-session s]\nsso_region = eu-west-1\n[profile a]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n",
			[]string{"[sso-session s]", "sso_start_url"}},
		{"session without region", "[sso-session s]\nsso_start_url = https://s\n[profile a]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n",
			[]string{"[sso-session s]", "sso_region"}},
		{"no account", session + "[profile a]\nsso_session = s\nsso_role_name = R\n", []string{`"a"`, "sso_account_id", "[profile a]"}},
		{"no role", session + "[profile a]\nsso_session = s\nsso_account_id = 1\n", []string{"sso_role_name"}},
		{"start url differs", session + "[profile a]\nsso_session = s\nsso_start_url = https://other\nsso_account_id = 1\nsso_role_name = R\n",
			[]string{"sso_start_url = https://other", "remove it"}},
		{"region differs", session + "[profile a]\nsso_session = s\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n",
			[]string{"sso_region = us-east-1"}},
		{"legacy without region", "[profile a]\nsso_start_url = https://s\nsso_account_id = 1\nsso_role_name = R\n", []string{"sso_region"}},
		{"legacy account only", "[profile a]\nsso_account_id = 1\n", []string{"sso_start_url, sso_region, sso_role_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.text)
			for _, name := range []string{"a", "r"} {
				text := tt.text
				if name == "r" {
					// A role from it fails the same way.
					c = mustParse(t, text+"[profile r]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = a\n")
				}
				p, err := c.Plan(name)
				if !errors.Is(err, profile.ErrInvalid) {
					t.Fatalf("Plan(%q) = %+v, %v, want ErrInvalid", name, p, err)
				}
				for _, s := range append(tt.wantIn, "/home/me/.aws/config") {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Plan(%q) = %q, want %q in it", name, err, s)
					}
				}
			}
		})
	}
	// What stays unsupported does, SSO or not.
	c := mustParse(t, session+"[profile a]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\nweb_identity_token_file = /t\n")
	if _, err := c.Plan("a"); !errors.Is(err, profile.ErrUnsupported) || !strings.Contains(err.Error(), "web_identity_token_file") {
		t.Errorf("Plan(a) with web_identity_token_file = %v, want ErrUnsupported naming it", err)
	}
}

// TestParse_SSOAsSDK checks the SSO settings against what aws-sdk-go-v2's
// own loader reads from the same file.
func TestParse_SSOAsSDK(t *testing.T) {
	tests := []struct {
		name, text, profile string
	}{
		{"session", ssoConfig, "sso-dev"},
		{"legacy", ssoConfig, "legacy"},
		{"spaced session header", ssoConfig, "sso-with-process"},
		{"key names in any case", "[sso-session S]\nSSO_Start_URL = https://s\nSSO_REGION = r\n[profile a]\nSso_Session = S\nsso_account_id = 1\nSSO_Role_Name = R\n", "a"},
		{"comments and quotes", "[sso-session s] ; c\nsso_start_url = \"https://s\" # c\nsso_region = r\n[profile a]\nsso_session = s ; c\nsso_account_id = '1'\nsso_role_name = R\n", "a"},
		{"duplicate session sections merge", "[sso-session s]\nsso_start_url = https://s\n[sso-session s]\nsso_region = r\n[profile a]\nsso_session = s\nsso_account_id = 1\nsso_role_name = R\n", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.text)
			p, err := c.Plan(tt.profile)
			if err != nil {
				t.Fatalf("Plan(%q) = %v", tt.profile, err)
			}
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			sc, err := config.LoadSharedConfigProfile(t.Context(), tt.profile, func(o *config.LoadSharedConfigOptions) {
				o.ConfigFiles = []string{path}
				o.CredentialsFiles = []string{}
			})
			if err != nil {
				t.Fatalf("config.LoadSharedConfigProfile(%q) = %v", tt.profile, err)
			}
			type fields struct{ Session, StartURL, Region, Account, Role string }
			got := fields{p.Source.SSOSession, p.SSO.StartURL, p.SSO.Region, p.Source.SSOAccountID, p.Source.SSORoleName}
			want := fields{sc.SSOSessionName, sc.SSOStartURL, sc.SSORegion, sc.SSOAccountID, sc.SSORoleName}
			if sc.SSOSession != nil {
				want.StartURL, want.Region = sc.SSOSession.SSOStartURL, sc.SSOSession.SSORegion
			}
			if got != want {
				t.Errorf("Parse(%q) plans %q with %+v, but aws-sdk-go-v2 reads %+v", tt.text, tt.profile, got, want)
			}
		})
	}
}
