package broker_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
)

// stsCall is one request the fake STS received.
type stsCall struct {
	form   url.Values
	signer string // access key id in the SigV4 Authorization header
	region string // region of the signature's scope
}

// fakeSTS answers AssumeRole and GetSessionToken in STS's Query protocol
// with numbered credentials lasting an hour; for roles named Denied,
// Failing and Throttled it answers AccessDenied, a 500 and Throttling.
type fakeSTS struct {
	mu    sync.Mutex
	calls []stsCall
}

var _ http.Handler = (*fakeSTS)(nil)

var scope = regexp.MustCompile(`Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/sts/aws4_request`)

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := stsCall{form: r.PostForm}
	if m := scope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.signer, c.region = m[1], m[2]
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	f.mu.Unlock()

	w.Header().Set("Content-Type", "text/xml")
	creds := fmt.Sprintf(`<Credentials><AccessKeyId>ASIA%016d</AccessKeyId><SecretAccessKey>secret-%d</SecretAccessKey>`+
		`<SessionToken>token-%d</SessionToken><Expiration>%s</Expiration></Credentials>`,
		n, n, n, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	switch action, role := r.PostForm.Get("Action"), r.PostForm.Get("RoleArn"); {
	case action == "AssumeRole" && strings.HasSuffix(role, "/Denied"):
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>`+
			`<Message>User: arn:aws:iam::111111111111:user/alice is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error>`+
			`<RequestId>r-%d</RequestId></ErrorResponse>`, role, n)
	case action == "AssumeRole" && strings.HasSuffix(role, "/Failing"):
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Receiver</Type><Code>InternalFailure</Code>`+
			`<Message>We encountered an internal error. Please try again.</Message></Error><RequestId>r-%d</RequestId></ErrorResponse>`, n)
	case action == "AssumeRole" && strings.HasSuffix(role, "/Throttled"):
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code>`+
			`<Message>Rate exceeded</Message></Error><RequestId>r-%d</RequestId></ErrorResponse>`, n)
	case action == "AssumeRole":
		account := strings.Split(role, ":")[4]
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>%s`+
			`<AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn><AssumedRoleId>AROA%d:%[4]s</AssumedRoleId></AssumedRoleUser>`+
			`</AssumeRoleResult><ResponseMetadata><RequestId>r-%[5]d</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			creds, account, filepath.Base(role), r.PostForm.Get("RoleSessionName"), n)
	case action == "GetSessionToken":
		fmt.Fprintf(w, `<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult>%s</GetSessionTokenResult>`+
			`<ResponseMetadata><RequestId>r-%d</RequestId></ResponseMetadata></GetSessionTokenResponse>`, creds, n)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>%s</Message></Error></ErrorResponse>`, action)
	}
}

func (f *fakeSTS) Calls() []stsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stsCall(nil), f.calls...)
}

// fakeKeys is the keychain: long-term keys by profile.
type fakeKeys map[string]keychain.Keys

var _ broker.Keys = fakeKeys(nil)

func (k fakeKeys) Keys(_ context.Context, profile string) (keychain.Keys, error) {
	if v, ok := k[profile]; ok {
		return v, nil
	}
	return keychain.Keys{}, fmt.Errorf("read keys of profile %q: %w", profile, keychain.ErrNotFound)
}

var testKeys = fakeKeys{
	"base":         {AccessKeyID: "AKIABASE000000000001", SecretAccessKey: strings.Repeat("b", 40)},
	"keychainonly": {AccessKeyID: "AKIAONLY000000000002", SecretAccessKey: strings.Repeat("o", 40)},
}

const fetchConfig = `
[profile base]
region = eu-west-1

[profile dev]
role_arn = arn:aws:iam::222222222222:role/Dev
source_profile = base

[profile ext]
role_arn = arn:aws:iam::222222222222:role/Ext
source_profile = base
external_id = ext-123
role_session_name = alice
duration_seconds = 900
region = us-west-2

[profile chained]
role_arn = arn:aws:iam::333333333333:role/Chained
source_profile = dev

[profile denied]
role_arn = arn:aws:iam::222222222222:role/Denied
source_profile = base

[profile failing]
role_arn = arn:aws:iam::222222222222:role/Failing
source_profile = base

[profile throttled]
role_arn = arn:aws:iam::222222222222:role/Throttled
source_profile = base

[profile orphan]
role_arn = arn:aws:iam::444444444444:role/Orphan
source_profile = keychainonly

[profile nokeys]
role_arn = arn:aws:iam::222222222222:role/NoKeys
source_profile = missing

[profile webid]
web_identity_token_file = /var/run/token
`

// stsWorld points the SDK at a fake STS and a temporary config file, with
// nothing from the host's environment or files.
func stsWorld(t *testing.T) *fakeSTS {
	t.Helper()
	f := &fakeSTS{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(config, []byte(fetchConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS":        srv.URL,
		"AWS_CONFIG_FILE":             config,
		"AWS_SHARED_CREDENTIALS_FILE": creds,
		"HOME":                        dir,
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_PROFILE":         "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_USE_FIPS_ENDPOINT":       "",
		"AWS_USE_DUALSTACK_ENDPOINT":  "",
		"AWS_CA_BUNDLE":               "",
		"AWS_ROLE_ARN":                "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	return f
}

var defaultSessionName = regexp.MustCompile(`^brokerd(-[\w+=,.@-]+)?$`)

func TestBroker_FetchCalls(t *testing.T) {
	tests := []struct {
		profile  string
		duration time.Duration // broker.Config.Duration
		want     []map[string]string
		signers  []string // "base" for the key of profile base, "#n" for the credentials of call n
		regions  []string
		roleARN  string
	}{
		{
			profile: "dev",
			want: []map[string]string{{
				"Action": "AssumeRole", "RoleArn": "arn:aws:iam::222222222222:role/Dev", "DurationSeconds": "3600",
				"RoleSessionName": "(default)", "ExternalId": "",
			}},
			signers: []string{"base"},
			regions: []string{"eu-west-1"}, // a role without a region: its source's
			roleARN: "arn:aws:iam::222222222222:role/Dev",
		},
		{
			profile: "ext",
			want: []map[string]string{{
				"Action": "AssumeRole", "RoleArn": "arn:aws:iam::222222222222:role/Ext", "DurationSeconds": "900",
				"RoleSessionName": "alice", "ExternalId": "ext-123",
			}},
			signers: []string{"base"},
			regions: []string{"us-west-2"}, // the role's region wins over its source's
			roleARN: "arn:aws:iam::222222222222:role/Ext",
		},
		{
			profile:  "dev",
			duration: 2 * time.Hour,
			want: []map[string]string{{
				"Action": "AssumeRole", "RoleArn": "arn:aws:iam::222222222222:role/Dev", "DurationSeconds": "7200",
			}},
			signers: []string{"base"},
			regions: []string{"eu-west-1"}, // a role without a region: its source's
			roleARN: "arn:aws:iam::222222222222:role/Dev",
		},
		{
			profile: "chained",
			want: []map[string]string{
				{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::222222222222:role/Dev", "DurationSeconds": "3600"},
				{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::333333333333:role/Chained", "DurationSeconds": "3600"},
			},
			signers: []string{"base", "#1"},
			regions: []string{"eu-west-1", "eu-west-1"},
			roleARN: "arn:aws:iam::333333333333:role/Chained",
		},
		{
			profile: "base",
			want:    []map[string]string{{"Action": "GetSessionToken", "DurationSeconds": "3600", "RoleArn": ""}},
			signers: []string{"base"},
			regions: []string{"eu-west-1"},
		},
		{
			// Keys in the keychain and no section in the config file.
			profile: "keychainonly",
			want:    []map[string]string{{"Action": "GetSessionToken", "DurationSeconds": "3600"}},
			signers: []string{"keychainonly"},
			regions: []string{"us-east-1"},
		},
		{
			// A role whose source profile has keys but no section.
			profile: "orphan",
			want:    []map[string]string{{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::444444444444:role/Orphan"}},
			signers: []string{"keychainonly"},
			regions: []string{"us-east-1"},
			roleARN: "arn:aws:iam::444444444444:role/Orphan",
		},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.profile, tt.duration), func(t *testing.T) {
			f := stsWorld(t)
			b := broker.New(testKeys, broker.Config{Duration: tt.duration})
			got, err := b.Fetch(t.Context(), tt.profile)
			if err != nil {
				t.Fatalf("Fetch(%q) = %v", tt.profile, err)
			}

			calls := f.Calls()
			if len(calls) != len(tt.want) {
				t.Fatalf("Fetch(%q) made %d STS calls, want %d", tt.profile, len(calls), len(tt.want))
			}
			for i, want := range tt.want {
				for k, v := range want {
					gotV := calls[i].form.Get(k)
					if k == "RoleSessionName" && v == "(default)" {
						if !defaultSessionName.MatchString(gotV) {
							t.Errorf("Fetch(%q) call %d RoleSessionName = %q, want brokerd-USER", tt.profile, i, gotV)
						}
						continue
					}
					if gotV != v {
						t.Errorf("Fetch(%q) call %d %s = %q, want %q", tt.profile, i, k, gotV, v)
					}
				}
				wantSigner := tt.signers[i]
				if k, ok := testKeys[wantSigner]; ok {
					wantSigner = k.AccessKeyID
				} else {
					var n int
					fmt.Sscanf(wantSigner, "#%d", &n)
					wantSigner = fmt.Sprintf("ASIA%016d", n)
				}
				if calls[i].signer != wantSigner {
					t.Errorf("Fetch(%q) call %d signed by %q, want %q", tt.profile, i, calls[i].signer, wantSigner)
				}
				if calls[i].region != tt.regions[i] {
					t.Errorf("Fetch(%q) call %d signed for region %q, want %q", tt.profile, i, calls[i].region, tt.regions[i])
				}
			}

			last := len(calls)
			if want := fmt.Sprintf("ASIA%016d", last); got.AccessKeyID != want || got.SecretAccessKey != fmt.Sprintf("secret-%d", last) ||
				got.SessionToken != fmt.Sprintf("token-%d", last) {
				t.Errorf("Fetch(%q) = key %q, want the last call's %q with its secret and token", tt.profile, got.AccessKeyID, want)
			}
			if !got.CanExpire || time.Until(got.Expires) < 50*time.Minute {
				t.Errorf("Fetch(%q).Expires = %v, want about an hour from now", tt.profile, got.Expires)
			}
			if got.RoleARN != tt.roleARN {
				t.Errorf("Fetch(%q).RoleARN = %q, want %q", tt.profile, got.RoleARN, tt.roleARN)
			}
			if tt.roleARN != "" {
				if account := strings.Split(tt.roleARN, ":")[4]; got.AccountID != account {
					t.Errorf("Fetch(%q).AccountID = %q, want %q", tt.profile, got.AccountID, account)
				}
			}
		})
	}
}

func TestBroker_FetchErrors(t *testing.T) {
	tests := []struct {
		profile    string
		wantKind   fault.Kind
		wantStatus int
		wantCode   string
		wantIn     []string
		wantCalls  int
	}{
		{"nope", fault.NotFound, 404, "ProfileNotFound", []string{`"nope"`, "brokerd keys add nope"}, 0},
		{"nokeys", fault.NoKeys, 404, "NoKeys", []string{`"missing"`, "brokerd keys add missing"}, 0},
		{"denied", fault.Refused, 403, "AccessDenied", []string{"AssumeRole", `"denied"`, "not authorized", "arn:aws:iam::222222222222:role/Denied"}, 1},
		{"failing", fault.STSUnavailable, 503, "STSUnavailable", []string{"AssumeRole", `"failing"`, "InternalFailure", "STS is failing"}, 1},
		{"throttled", fault.Throttled, 503, "Throttling", []string{"AssumeRole", `"throttled"`, "Rate exceeded", "STS is throttling requests"}, 1},
		{"webid", fault.Unsupported, 400, "UnsupportedSource", []string{"web_identity_token_file", "brokerd keys add webid"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			f := stsWorld(t)
			b := broker.New(testKeys, broker.Config{})
			_, err := b.Fetch(t.Context(), tt.profile)
			var fe *fault.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Fetch(%q) = %v, want a *fault.Error", tt.profile, err)
			}
			if fe.Kind != tt.wantKind {
				t.Errorf("Fetch(%q) kind = %v, want %v", tt.profile, fe.Kind, tt.wantKind)
			}
			if status, code, _ := httperr.Answer(err); status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("Fetch(%q) = %d %s, want %d %s", tt.profile, status, code, tt.wantStatus, tt.wantCode)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(fe.Message, s) {
					t.Errorf("Fetch(%q) message = %q, want %q in it", tt.profile, fe.Message, s)
				}
			}
			if n := len(f.Calls()); n != tt.wantCalls {
				t.Errorf("Fetch(%q) made %d STS calls, want %d", tt.profile, n, tt.wantCalls)
			}
		})
	}
}

// listingKeys is a keychain that lists its profiles, as *keychain.Store does.
type listingKeys struct{ fakeKeys }

func (k listingKeys) Profiles(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(k.fakeKeys)), nil
}

// TestBroker_FetchMistypedSource checks that a source_profile that names
// neither a profile nor keys, but is near one that does, is answered as
// the config's typo, not as keys to add.
func TestBroker_FetchMistypedSource(t *testing.T) {
	const typos = `
[profile prod]
role_arn = arn:aws:iam::999999999999:role/Prod
source_profile = bsae

[profile chained2]
role_arn = arn:aws:iam::999999999999:role/Chained2
source_profile = prod

[profile ops]
role_arn = arn:aws:iam::999999999999:role/Ops
source_profile = keychainonyl

[profile fresh]
role_arn = arn:aws:iam::999999999999:role/Fresh
source_profile = bas

[profile bas]
region = eu-west-1
`
	tests := []struct {
		profile  string
		keys     broker.Keys
		wantCode string
		wantIn   []string
	}{
		{"prod", testKeys, "InvalidConfig", []string{`source_profile "bsae" of profile "prod"`, "neither in the config nor in the keychain", "did you mean base?",
			"set source_profile = base in [profile prod] of ", "`brokerd keys add bsae`"}},
		// The role that names the source is named, not the one asked for.
		{"chained2", testKeys, "InvalidConfig", []string{`source_profile "bsae" of profile "prod"`, "did you mean base?"}},
		// A source with keys and no section is found through the keychain's list.
		{"ops", listingKeys{testKeys}, "InvalidConfig", []string{`source_profile "keychainonyl" of profile "ops"`, "did you mean keychainonly?"}},
		{"ops", testKeys, "NoKeys", []string{"`brokerd keys add keychainonyl`"}},
		// A source with a section of its own only lacks its keys.
		{"fresh", listingKeys{testKeys}, "NoKeys", []string{`"bas"`, "`brokerd keys add bas`"}},
		{"nokeys", listingKeys{testKeys}, "NoKeys", []string{`"missing"`, "`brokerd keys add missing`"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %T", tt.profile, tt.keys), func(t *testing.T) {
			fetchTypo(t, tt.keys, typos, tt.profile, tt.wantCode, tt.wantIn, nil, 0)
		})
	}
}

// fetchTypo fetches profile with keys, from fetchConfig followed by typos,
// and checks the answer: the code (none: credentials served), phrases in
// the message and not, and the STS calls made. An InvalidConfig answer
// names the config file.
func fetchTypo(t *testing.T, keys broker.Keys, typos, profile, wantCode string, wantIn, notIn []string, wantCalls int) {
	t.Helper()
	f := stsWorld(t)
	config := os.Getenv("AWS_CONFIG_FILE")
	if err := os.WriteFile(config, []byte(fetchConfig+typos), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := broker.New(keys, broker.Config{}).Fetch(t.Context(), profile)
	if n := len(f.Calls()); n != wantCalls {
		t.Errorf("Fetch(%q) made %d STS calls, want %d", profile, n, wantCalls)
	}
	if wantCode == "" {
		if err != nil {
			t.Errorf("Fetch(%q) = %v, want credentials", profile, err)
		}
		return
	}
	_, code, msg := httperr.Answer(err)
	if code != wantCode {
		t.Errorf("Fetch(%q) = %v (%s), want %s", profile, err, code, wantCode)
	}
	for _, want := range wantIn {
		if !strings.Contains(msg, want) {
			t.Errorf("Fetch(%q) answered %q, want %q in it", profile, msg, want)
		}
	}
	for _, not := range notIn {
		if strings.Contains(msg, not) {
			t.Errorf("Fetch(%q) answered %q, want no %q in it", profile, msg, not)
		}
	}
	if wantCode == "InvalidConfig" && !strings.Contains(msg, config) {
		t.Errorf("Fetch(%q) answered %q, want the config file %s in it", profile, msg, config)
	}
}

// TestBroker_FetchMisspeltSetting checks that a profile without keys that
// sets a close misspelling of a credential setting brokerd reads is
// answered as the config's typo, not as keys to add; with keys, the typo
// changes nothing.
func TestBroker_FetchMisspeltSetting(t *testing.T) {
	const typos = `
[profile prod]
role_arm = arn:aws:iam::999999999999:role/UpdateApp
source_profile = base

[profile app]
role_arn = arn:aws:iam::999999999999:role/App
source_profile = corp

[profile corp]
sso_sesion = corp

[profile mfauser]
mfa_serail = arn:aws:iam::111111111111:mfa/me

[profile both]
role_session_name = me
role_sesion_name = me

[profile colours]
colour = blue
regoin = eu-west-1

[profile loose]
role_arn = arn:aws:iam::999999999999:role/Loose
sorce_profile = base
`
	withProd := fakeKeys{"prod": {AccessKeyID: "AKIAPROD000000000003", SecretAccessKey: strings.Repeat("p", 40)},
		"mfauser": {AccessKeyID: "AKIAMFAUSER000000004", SecretAccessKey: strings.Repeat("m", 40)}}
	maps.Copy(withProd, testKeys)
	tests := []struct {
		name      string
		profile   string
		keys      broker.Keys
		wantCode  string // "" for credentials served
		wantIn    []string
		notIn     []string
		wantCalls int
	}{
		// source_profile without role_arn is refused, as the SDKs refuse
		// it, keys or not: serving prod's own keys would be another identity.
		{"role_arn", "prod", testKeys, "InvalidConfig",
			[]string{`profile "prod": source_profile = base but no role_arn (it sets role_arm: did you mean role_arn?)`},
			[]string{"brokerd keys add"}, 0},
		{"role_arn, keys there", "prod", withProd, "InvalidConfig", []string{"did you mean role_arn?"}, nil, 0},
		// An unknown setting of a profile whose keys are there is harmless.
		{"mfa_serial, keys there", "mfauser", withProd, "", nil, nil, 1},
		// The source of the role asked for is the one named.
		{"sso_session of the source", "app", testKeys, "InvalidConfig",
			[]string{`profile "corp" has no sso_session but sets sso_sesion (did you mean sso_session?): fix [profile corp] in `}, nil, 0},
		{"mfa_serial", "mfauser", testKeys, "InvalidConfig",
			[]string{`no keys for profile "mfauser" in the keychain, and it has no mfa_serial but sets mfa_serail (did you mean mfa_serial?)`,
				"fix [profile mfauser] in ", "and run `brokerd keys add mfauser`"}, nil, 0},
		// The setting is there as well: the typo is harmless, the keys are missing.
		{"role_session_name set too", "both", testKeys, "NoKeys", []string{"`brokerd keys add both`"}, []string{"role_sesion_name"}, 0},
		// Typos of other settings do not explain missing keys.
		{"no credential setting", "colours", testKeys, "NoKeys", []string{"`brokerd keys add colours`"}, []string{"regoin", "did you mean"}, 0},
		{"source_profile of a role", "loose", testKeys, "InvalidConfig",
			[]string{`profile "loose" has role_arn but no source_profile, and sets sorce_profile (did you mean source_profile?): fix [profile loose] in `}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetchTypo(t, tt.keys, typos, tt.profile, tt.wantCode, tt.wantIn, tt.notIn, tt.wantCalls)
		})
	}
}

// failingKeys is a keychain that fails every read with err.
type failingKeys struct{ err error }

var _ broker.Keys = failingKeys{}

func (k failingKeys) Keys(_ context.Context, profile string) (keychain.Keys, error) {
	return keychain.Keys{}, fmt.Errorf("read keys of profile %q: %w", profile, k.err)
}

func TestBroker_FetchKeychainErrors(t *testing.T) {
	tests := []struct {
		profile    string
		err        error
		wantStatus int
		wantCode   string
	}{
		// keychainonly has no section: only its keys make it a profile.
		{"keychainonly", keychain.ErrLocked, 503, "KeychainLocked"},
		{"keychainonly", keychain.ErrUnavailable, 503, "KeychainUnavailable"},
		{"keychainonly", keychain.ErrTimeout, 503, "KeychainUnavailable"},
		{"keychainonly", keychain.ErrNotFound, 404, "ProfileNotFound"},
		{"dev", keychain.ErrLocked, 503, "KeychainLocked"},
		// A damaged item is as good as none, not a 500 that SDKs retry.
		{"keychainonly", keychain.ErrFormat, 404, "NoKeys"},
		{"dev", keychain.ErrFormat, 404, "NoKeys"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.profile, tt.err), func(t *testing.T) {
			f := stsWorld(t)
			b := broker.New(failingKeys{tt.err}, broker.Config{})
			_, err := b.Fetch(t.Context(), tt.profile)
			var fe *fault.Error
			if status, code, _ := httperr.Answer(err); !errors.As(err, &fe) || status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("Fetch(%q) with keychain error %v = %v (%d %s), want a *fault.Error answered %d %s", tt.profile, tt.err, err, status, code, tt.wantStatus, tt.wantCode)
			}
			if tt.err == keychain.ErrFormat && !strings.Contains(err.Error(), "run `brokerd keys add "+map[string]string{"dev": "base", "keychainonly": "keychainonly"}[tt.profile]+"`") {
				t.Errorf("Fetch(%q) = %v, want it to say to add the source's keys again", tt.profile, err)
			}
			if tt.wantStatus == 503 && !errors.Is(err, tt.err) {
				t.Errorf("Fetch(%q) = %v, want it to wrap %v", tt.profile, err, tt.err)
			}
			if n := len(f.Calls()); n != 0 {
				t.Errorf("Fetch(%q) made %d STS calls, want none", tt.profile, n)
			}
		})
	}
}

// staleBus is a keychain backend whose every call fails as go-keyring's
// does when DBUS_SESSION_BUS_ADDRESS names a socket that is gone.
type staleBus struct{}

var _ keychain.Backend = staleBus{}

func (staleBus) Get(string, string) (string, error) { return "", staleBus{}.err() }
func (staleBus) Set(string, string, string) error   { return staleBus{}.err() }
func (staleBus) Delete(string, string) error        { return staleBus{}.err() }

// err is godbus's error for a missing socket, from net.DialUnix.
func (staleBus) err() error {
	return &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: "/nonexistent", Net: "unix"},
		Err: os.NewSyscallError("connect", syscall.ENOENT)}
}

func TestBroker_FetchStaleSessionBus(t *testing.T) {
	for _, name := range []string{"dev", "keychainonly"} {
		t.Run(name, func(t *testing.T) {
			f := stsWorld(t)
			b := broker.New(keychain.New(staleBus{}), broker.Config{})
			_, err := b.Fetch(t.Context(), name)
			status, code, msg := httperr.Answer(err)
			if status != 503 || code != "KeychainUnavailable" || !errors.Is(err, keychain.ErrUnavailable) {
				t.Errorf("Fetch(%q) with a stale session bus = %v (%d %s), want ErrUnavailable answered 503 KeychainUnavailable", name, err, status, code)
			}
			for _, want := range []string{"DBUS_SESSION_BUS_ADDRESS", "no Secret Service is reachable", "dial unix /nonexistent"} {
				if !strings.Contains(msg, want) {
					t.Errorf("Fetch(%q) with a stale session bus answered %q, want %q in it", name, msg, want)
				}
			}
			if n := len(f.Calls()); n != 0 {
				t.Errorf("Fetch(%q) made %d STS calls, want none", name, n)
			}
		})
	}
}

// countingKeys is a keychain that counts its reads.
type countingKeys struct {
	keys  broker.Keys
	mu    sync.Mutex
	reads map[string]int
}

var _ broker.Keys = (*countingKeys)(nil)

func (k *countingKeys) Keys(ctx context.Context, profile string) (keychain.Keys, error) {
	k.mu.Lock()
	if k.reads == nil {
		k.reads = map[string]int{}
	}
	k.reads[profile]++
	k.mu.Unlock()
	return k.keys.Keys(ctx, profile)
}

func (k *countingKeys) Reads(profile string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reads[profile]
}

func TestBroker_FetchKeychainOnlyReadsKeysOnce(t *testing.T) {
	tests := []struct {
		keys      broker.Keys
		wantCode  string // "" for credentials
		wantSTS   int    // STS calls per fetch
		wantReads func(fetches int) int
	}{
		// Keys read are held in memory: one read serves every fetch.
		{testKeys, "", 1, func(int) int { return 1 }},
		// A failed read is not held: each fetch asks the keychain once.
		{failingKeys{keychain.ErrNotFound}, "ProfileNotFound", 0, func(n int) int { return n }},
		{failingKeys{keychain.ErrLocked}, "KeychainLocked", 0, func(n int) int { return n }},
	}
	for _, tt := range tests {
		t.Run(cmp.Or(tt.wantCode, "found"), func(t *testing.T) {
			f := stsWorld(t)
			keys := &countingKeys{keys: tt.keys}
			b := broker.New(keys, broker.Config{})
			for i := 1; i <= 3; i++ {
				_, err := b.Fetch(t.Context(), "keychainonly")
				switch {
				case err == nil && tt.wantCode != "":
					t.Fatalf("Fetch(%q) = credentials, want code %s", "keychainonly", tt.wantCode)
				case err != nil:
					if _, code, _ := httperr.Answer(err); code != tt.wantCode {
						t.Fatalf("Fetch(%q) = %v (%s), want code %q", "keychainonly", err, code, tt.wantCode)
					}
				}
				if n, want := keys.Reads("keychainonly"), tt.wantReads(i); n != want {
					t.Errorf("after %d Fetch(%q) the keychain was read %d times, want %d", i, "keychainonly", n, want)
				}
				if n := len(f.Calls()); n != i*tt.wantSTS {
					t.Errorf("after %d Fetch(%q) STS was called %d times, want %d", i, "keychainonly", n, i*tt.wantSTS)
				}
			}
		})
	}
}

func TestBroker_ConfigParsedOnlyWhenChanged(t *testing.T) {
	f := stsWorld(t)
	path := os.Getenv("AWS_CONFIG_FILE")
	var mu sync.Mutex
	loads := 0
	b := broker.New(testKeys, broker.Config{ConfigPath: path, Load: func(path string) (*profile.Config, error) {
		mu.Lock()
		loads++
		mu.Unlock()
		return profile.Load(path)
	}})
	loaded := func() int {
		mu.Lock()
		defer mu.Unlock()
		return loads
	}
	// fetch fetches base, whose GetSessionToken shows its duration_seconds.
	fetch := func(step string, wantDuration string, wantLoads int) {
		t.Helper()
		for range 3 {
			if _, err := b.Fetch(t.Context(), "base"); err != nil {
				t.Fatalf("%s: Fetch(%q) = %v", step, "base", err)
			}
			calls := f.Calls()
			if got := calls[len(calls)-1].form.Get("DurationSeconds"); got != wantDuration {
				t.Errorf("%s: Fetch(%q) DurationSeconds = %s, want %s", step, "base", got, wantDuration)
			}
		}
		if n := loaded(); n != wantLoads {
			t.Errorf("%s: the config file was parsed %d times in all, want %d", step, n, wantLoads)
		}
	}
	withDuration := func(s string) []byte {
		return []byte(strings.Replace(fetchConfig, "[profile base]\n", "[profile base]\nduration_seconds = "+s+"\n", 1))
	}
	stat := func() os.FileInfo {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}

	fetch("unchanged", "3600", 1)

	// An edit that changes the size alone.
	mod := stat().ModTime()
	if err := os.WriteFile(path, withDuration("1800"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
	fetch("after an edit of the size", "1800", 2)

	// An edit of the same size, with a new modification time.
	mod = mod.Add(time.Minute)
	if err := os.WriteFile(path, withDuration("2700"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
	fetch("after a same-size edit", "2700", 3)

	// A file of the same size and modification time renamed over it.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, withDuration("3000"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if fi := stat(); !fi.ModTime().Equal(mod) || fi.Size() != int64(len(withDuration("2700"))) {
		t.Fatalf("the renamed file has mtime %v and size %d, want those of the file it replaced", fi.ModTime(), fi.Size())
	}
	fetch("after a rename", "3000", 4)

	if _, err := b.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if n := loaded(); n != 5 {
		t.Errorf("Reload() parsed the config file %d times in all, want 5", n)
	}
	fetch("after Reload", "3000", 5)
}

func TestBroker_FetchEndpointURL(t *testing.T) {
	stsWorld(t)
	stsA, stsB := &fakeSTS{}, &fakeSTS{}
	srvA, srvB := httptest.NewServer(stsA), httptest.NewServer(stsB)
	t.Cleanup(srvA.Close)
	t.Cleanup(srvB.Close)
	// Each profile names its own endpoint: STS is called at the one of the
	// profile asked for, never at its source's or the default profile's.
	config := fmt.Sprintf(`
[default]
endpoint_url = %[2]s

[profile base]
endpoint_url = %[2]s

[profile dev]
role_arn = arn:aws:iam::222222222222:role/Dev
source_profile = base
endpoint_url = %[2]s

[profile solo]
role_arn = arn:aws:iam::222222222222:role/Solo
source_profile = base
endpoint_url = %[1]s

[profile chained]
role_arn = arn:aws:iam::333333333333:role/Chained
source_profile = dev
endpoint_url = %[1]s
`, srvA.URL, srvB.URL)
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// Only the config file says where STS is.
	t.Setenv("AWS_ENDPOINT_URL_STS", "")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")

	tests := []struct {
		profile      string
		wantA, wantB int // STS calls at each endpoint
	}{
		{"solo", 1, 0},
		{"chained", 2, 0},
		{"dev", 0, 1},
		{"base", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			b := broker.New(testKeys, broker.Config{})
			beforeA, beforeB := len(stsA.Calls()), len(stsB.Calls())
			if _, err := b.Fetch(t.Context(), tt.profile); err != nil {
				t.Fatalf("Fetch(%q) = %v", tt.profile, err)
			}
			if a, b := len(stsA.Calls())-beforeA, len(stsB.Calls())-beforeB; a != tt.wantA || b != tt.wantB {
				t.Errorf("Fetch(%q) called STS %d times at endpoint A and %d at B, want %d and %d", tt.profile, a, b, tt.wantA, tt.wantB)
			}
		})
	}
}

// TestBroker_FetchIgnoresAWSProfile checks that a daemon started in a
// shell with AWS_PROFILE set serves every profile as it would without:
// the SDK would refuse to load the environment's configuration.
func TestBroker_FetchIgnoresAWSProfile(t *testing.T) {
	for _, name := range []string{"dev", "base", "nosuch"} {
		t.Run(name, func(t *testing.T) {
			f := stsWorld(t)
			t.Setenv("AWS_PROFILE", name)
			if _, err := broker.New(testKeys, broker.Config{}).Fetch(t.Context(), "dev"); err != nil {
				t.Fatalf("Fetch(%q) with AWS_PROFILE=%s = %v", "dev", name, err)
			}
			// The region is the source's, as without AWS_PROFILE.
			if calls := f.Calls(); len(calls) != 1 || calls[0].region != "eu-west-1" {
				t.Errorf("Fetch(%q) with AWS_PROFILE=%s called STS %+v, want once in eu-west-1", "dev", name, calls)
			}
		})
	}
}

func TestBroker_HeldKeysForgotten(t *testing.T) {
	stsWorld(t)
	keys := &countingKeys{keys: testKeys}
	b := broker.New(keys, broker.Config{})
	fetch := func() {
		t.Helper()
		if _, err := b.Fetch(t.Context(), "keychainonly"); err != nil {
			t.Fatal(err)
		}
	}
	fetch()
	fetch()
	b.ForgetKeys("keychainonly")
	fetch()
	b.ForgetKeys()
	fetch()
	if _, err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	fetch()
	if n := keys.Reads("keychainonly"); n != 4 {
		t.Errorf("keychain reads over 5 fetches with 2 ForgetKeys and a Reload = %d, want 4", n)
	}
}

// TestBroker_HeldKeysAge checks that held keys are read again once an
// hour of the wall clock has passed, or the clock was set back: a laptop
// that slept does not count its sleep on the monotonic clock.
func TestBroker_HeldKeysAge(t *testing.T) {
	tests := []struct {
		name      string
		step      time.Duration
		wantReads int
	}{
		{"within the hour", 59 * time.Minute, 1},
		{"an hour later", time.Hour, 2},
		{"clock set back", -time.Minute, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stsWorld(t)
			keys := &countingKeys{keys: testKeys}
			clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
			b := broker.New(keys, broker.Config{Clock: clock})
			for i := range 2 {
				if i == 1 {
					clock.Advance(tt.step)
				}
				if _, err := b.Fetch(t.Context(), "keychainonly"); err != nil {
					t.Fatal(err)
				}
			}
			if n := keys.Reads("keychainonly"); n != tt.wantReads {
				t.Errorf("keychain reads = %d, want %d", n, tt.wantReads)
			}
		})
	}
}
