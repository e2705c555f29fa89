package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/sso"
)

const ssoFetchConfig = `
[sso-session my-sso]
sso_start_url = https://my-sso.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[profile sso-dev]
sso_session = my-sso
sso_account_id = 111111111111
sso_role_name = Developer

[profile sso-ops]
sso_session = my-sso
sso_account_id = 111111111111
sso_role_name = Ops

[profile sso-admin]
role_arn = arn:aws:iam::222222222222:role/Admin
source_profile = sso-dev

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-west-2
sso_account_id = 333333333333
sso_role_name = ReadOnly
`

// ssoCall is one RoleCredentials call the fake portal answered.
type ssoCall struct {
	session       sso.Session
	account, role string
}

// fakeSSO answers RoleCredentials with credentials named for the role, or
// with err when set.
type fakeSSO struct {
	mu    sync.Mutex
	calls []ssoCall
	err   error
}

var _ broker.SSO = (*fakeSSO)(nil)

func (f *fakeSSO) RoleCredentials(_ context.Context, s sso.Session, account, role string) (aws.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, ssoCall{s, account, role})
	if f.err != nil {
		return aws.Credentials{}, f.err
	}
	return aws.Credentials{AccessKeyID: "ASIASSO" + strings.ToUpper(role), SecretAccessKey: "sso-secret-" + role,
		SessionToken: "sso-token-" + role, CanExpire: true, Expires: time.Now().Add(time.Hour), AccountID: account}, nil
}

func (f *fakeSSO) Calls() []ssoCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ssoCall(nil), f.calls...)
}

// ssoWorld is stsWorld with the SSO profiles' config file.
func ssoWorld(t *testing.T) (*fakeSTS, string) {
	t.Helper()
	f := stsWorld(t)
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(ssoFetchConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, path
}

func TestBroker_FetchSSO(t *testing.T) {
	f, config := ssoWorld(t)
	portal := &fakeSSO{}
	b := broker.New(testKeys, broker.Config{ConfigPath: config, SSO: portal})
	ctx := t.Context()

	c, err := b.Fetch(ctx, "sso-dev")
	if err != nil {
		t.Fatalf("Fetch(sso-dev) = %v", err)
	}
	if c.AccessKeyID != "ASIASSODEVELOPER" || c.RoleARN != "" || c.AccountID != "111111111111" {
		t.Errorf("Fetch(sso-dev) = key %s, role %q, account %s, want the portal's credentials of Developer", c.AccessKeyID, c.RoleARN, c.AccountID)
	}
	mySSO := sso.Session{Name: "my-sso", StartURL: "https://my-sso.awsapps.com/start", Region: "eu-west-1", Scopes: []string{"sso:account:access"}}
	want := []ssoCall{{mySSO, "111111111111", "Developer"}}
	if got := portal.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("RoleCredentials calls = %+v, want %+v", got, want)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("Fetch(sso-dev) made %d STS calls, want none", n)
	}

	// A role chained from it is assumed with its credentials.
	c, err = b.Fetch(ctx, "sso-admin")
	if err != nil {
		t.Fatalf("Fetch(sso-admin) = %v", err)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].form.Get("RoleArn") != "arn:aws:iam::222222222222:role/Admin" || calls[0].signer != "ASIASSODEVELOPER" {
		t.Errorf("Fetch(sso-admin) STS calls = %+v, want one AssumeRole of Admin signed by the SSO credentials", calls)
	}
	if c.RoleARN != "arn:aws:iam::222222222222:role/Admin" {
		t.Errorf("Fetch(sso-admin).RoleARN = %q, want the role", c.RoleARN)
	}

	// The legacy form: its own start URL and region, no name.
	if _, err := b.Fetch(ctx, "legacy"); err != nil {
		t.Fatalf("Fetch(legacy) = %v", err)
	}
	calls2 := portal.Calls()
	if got, want := calls2[len(calls2)-1], (ssoCall{sso.Session{StartURL: "https://legacy.awsapps.com/start", Region: "us-west-2"}, "333333333333", "ReadOnly"}); !reflect.DeepEqual(got, want) {
		t.Errorf("RoleCredentials for legacy = %+v, want %+v", got, want)
	}
}

func TestBroker_FetchSSOErrors(t *testing.T) {
	loginRequired := fmt.Errorf("sso session %q: nobody signed in: %w", "my-sso", sso.ErrLoginRequired)
	forbidden := &smithy.GenericAPIError{Code: "ForbiddenException", Message: "No access", Fault: smithy.FaultClient}
	unreachable := fmt.Errorf("get credentials: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")})
	tests := []struct {
		name       string
		profile    string
		err        error
		nilSSO     bool
		wantKind   fault.Kind
		wantStatus int
		wantCode   string
		wantIn     []string
	}{
		{"not signed in", "sso-dev", loginRequired, false, fault.LoginRequired, 401, "LoginRequired",
			[]string{`"sso-dev"`, "nobody signed in", "run: brokerd login my-sso"}},
		{"chained role, not signed in", "sso-admin", loginRequired, false, fault.LoginRequired, 401, "LoginRequired",
			[]string{`"sso-admin"`, "run: brokerd login my-sso"}},
		{"legacy form logs in as the profile", "legacy", loginRequired, false, fault.LoginRequired, 401, "LoginRequired",
			[]string{"run: brokerd login legacy"}},
		{"no access to the role", "sso-dev", forbidden, false, fault.Refused, 403, "ForbiddenException",
			[]string{"Developer", "111111111111", "sso_role_name", "[profile sso-dev]"}},
		{"portal unreachable", "sso-dev", unreachable, false, fault.STSUnavailable, 503, "SSOUnavailable",
			[]string{"IAM Identity Center", "eu-west-1", "retries"}},
		{"no SSO client", "sso-dev", nil, true, fault.Unsupported, 400, "UnsupportedSource", []string{"IAM Identity Center"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, config := ssoWorld(t)
			cfg := broker.Config{ConfigPath: config}
			if !tt.nilSSO {
				cfg.SSO = &fakeSSO{err: tt.err}
			}
			_, err := broker.New(testKeys, cfg).Fetch(t.Context(), tt.profile)
			var fe *fault.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Fetch(%q) = %v, want a *fault.Error", tt.profile, err)
			}
			if fe.Kind != tt.wantKind {
				t.Errorf("Fetch(%q) kind = %v, want %v (%v)", tt.profile, fe.Kind, tt.wantKind, err)
			}
			if status, code, _ := httperr.Answer(err); status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("Fetch(%q) = %d %s, want %d %s", tt.profile, status, code, tt.wantStatus, tt.wantCode)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(fe.Message, s) {
					t.Errorf("Fetch(%q) message = %q, want %q in it", tt.profile, fe.Message, s)
				}
			}
			if strings.Contains(fe.Message, "sso-secret") || strings.Contains(fe.Message, "sso-token") {
				t.Errorf("Fetch(%q) message = %q, shows a secret", tt.profile, fe.Message)
			}
		})
	}
}

func TestBroker_PlanSSO(t *testing.T) {
	_, config := ssoWorld(t)
	b := broker.New(testKeys, broker.Config{ConfigPath: config})
	p, err := b.Plan("sso-admin")
	if err != nil {
		t.Fatal(err)
	}
	want := sso.Session{Name: "my-sso", StartURL: "https://my-sso.awsapps.com/start", Region: "eu-west-1", Scopes: []string{"sso:account:access"}}
	if got := broker.SSOSession(p); !reflect.DeepEqual(got, want) || got.Key() != "my-sso" {
		t.Errorf("SSOSession(Plan(sso-admin)) = %+v, want %+v", got, want)
	}
}
