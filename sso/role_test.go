package sso_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
)

// mint gives credentials naming the account and role, and no access to
// the role Nobody.
func mint(clock interface{ Now() time.Time }) func(context.Context, string, string) (aws.Credentials, error) {
	return func(_ context.Context, account, role string) (aws.Credentials, error) {
		if role == "Nobody" {
			return aws.Credentials{}, fmt.Errorf("role %s: %w", role, ssofake.ErrNoAccess)
		}
		return aws.Credentials{AccessKeyID: "ASIA" + account, SecretAccessKey: "secret-" + role,
			SessionToken: "token-" + role, Expires: clock.Now().Add(time.Hour).Truncate(time.Millisecond)}, nil
	}
}

func TestRoleCredentials(t *testing.T) {
	tests := []struct {
		name      string
		role      string
		revoke    func(*ssofake.Server)
		advance   time.Duration
		want      error // nil, ErrLoginRequired, or errAny
		refreshes int
		portal    int // GetRoleCredentials calls
	}{
		{name: "valid token", role: "Admin", portal: 1},
		{name: "token due for refresh", role: "Admin", advance: 57 * time.Minute, refreshes: 1, portal: 1},
		{name: "token revoked, refresh works", role: "Admin", revoke: (*ssofake.Server).RevokeAccessTokens, refreshes: 1, portal: 2},
		{name: "token revoked, refresh refused", role: "Admin", want: sso.ErrLoginRequired, refreshes: 1, portal: 1,
			revoke: func(s *ssofake.Server) { s.RevokeAccessTokens(); s.RevokeRefreshTokens() }},
		{name: "token expired, refresh refused", role: "Admin", want: sso.ErrLoginRequired, refreshes: 1,
			revoke: (*ssofake.Server).RevokeRefreshTokens, advance: 61 * time.Minute},
		{name: "no access to the role", role: "Nobody", want: errAny, portal: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *env
			e = newEnv(t, ssofake.Config{Mint: func(ctx context.Context, a, r string) (aws.Credentials, error) {
				return mint(e.clock)(ctx, a, r)
			}})
			e.login(t, session)
			if tt.revoke != nil {
				tt.revoke(e.fake)
			}
			e.clock.Advance(tt.advance)
			creds, err := e.client.RoleCredentials(context.Background(), session, "111122223333", tt.role)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("RoleCredentials() = %v", err)
			case tt.want == nil:
				want := aws.Credentials{AccessKeyID: "ASIA111122223333", SecretAccessKey: "secret-Admin", SessionToken: "token-Admin",
					CanExpire: true, Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond), Source: "brokerd SSO", AccountID: "111122223333"}
				if !creds.Expires.Equal(want.Expires) {
					t.Errorf("RoleCredentials().Expires = %v, want %v", creds.Expires, want.Expires)
				}
				creds.Expires = want.Expires
				if creds != want {
					t.Errorf("RoleCredentials() = %+v, want %+v", creds, want)
				}
			case tt.want == errAny && (err == nil || errors.Is(err, sso.ErrLoginRequired)):
				t.Errorf("RoleCredentials() = %v, want an error other than %v", err, sso.ErrLoginRequired)
			case tt.want != errAny && !errors.Is(err, tt.want):
				t.Errorf("RoleCredentials() = %v, want %v", err, tt.want)
			}
			e.store.checkNoSecrets(t, err)
			if got := e.grants(refreshGrant); got != tt.refreshes {
				t.Errorf("refreshes = %d, want %d", got, tt.refreshes)
			}
			if got := e.fake.Count("GetRoleCredentials"); got != tt.portal {
				t.Errorf("GetRoleCredentials calls = %d, want %d", got, tt.portal)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestLogout(t *testing.T) {
	e := newEnv(t, ssofake.Config{})
	ctx := context.Background()
	e.login(t, session)
	tok, err := e.client.Token(ctx, session)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Logout(ctx, session); err != nil {
		t.Fatalf("Logout() = %v", err)
	}
	if got := e.fake.Count("Logout"); got != 1 {
		t.Errorf("portal Logout calls = %d, want 1", got)
	}
	if b, _ := e.store.Get(ctx, session.Key()); b != nil {
		t.Error("the token is still stored after Logout()")
	}
	if _, err := e.client.RoleCredentials(ctx, session, "111122223333", "Admin"); !errors.Is(err, sso.ErrLoginRequired) {
		t.Errorf("RoleCredentials() after Logout() = %v, want %v", err, sso.ErrLoginRequired)
	}
	// The portal no longer takes the old token either.
	e.store.Set(ctx, session.Key(), []byte(fmt.Sprintf(`{"startUrl":%q,"region":%q,"accessToken":%q,"expiresAt":%q}`,
		session.StartURL, session.Region, tok.AccessToken, tok.Expires.Format(time.RFC3339))))
	if _, err := e.client.RoleCredentials(ctx, session, "111122223333", "Admin"); !errors.Is(err, sso.ErrLoginRequired) {
		t.Errorf("RoleCredentials() with the signed-out token = %v, want %v", err, sso.ErrLoginRequired)
	}
	if err := e.client.Logout(ctx, session); err != nil {
		t.Errorf("Logout() again = %v, want nil", err)
	}
}

// A legacy session has no refresh token: when the portal refuses its
// token (revoked, or signed out elsewhere), the error says so, rather
// than that the token expired, then and at the next request.
func TestRoleCredentials_RefusedTokenWithoutRefreshToken(t *testing.T) {
	legacy := sso.Session{StartURL: "https://legacy.awsapps.com/start", Region: "us-east-1"}
	e := newEnv(t, ssofake.Config{})
	e.login(t, legacy)
	e.fake.RevokeAccessTokens()
	for i := range 2 {
		_, err := e.client.RoleCredentials(context.Background(), legacy, "111122223333", "Admin")
		if !errors.Is(err, sso.ErrLoginRequired) || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "expired") {
			t.Errorf("RoleCredentials() #%d with a refused token = %v, want %v saying the portal refused it", i+1, err, sso.ErrLoginRequired)
		}
		e.store.checkNoSecrets(t, err)
	}
	if got := e.fake.Count("GetRoleCredentials"); got != 1 {
		t.Errorf("GetRoleCredentials calls = %d, want 1: the refused token is not sent again", got)
	}
}

// When the portal cannot be reached, Logout still removes the tokens, and
// says that the sign-in lasts at the portal: trying again cannot end it.
func TestLogout_PortalUnreachable(t *testing.T) {
	e := newEnv(t, ssofake.Config{})
	ctx := context.Background()
	e.login(t, session)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	c := sso.New(e.store, zapNop, sso.Config{Clock: e.clock, OIDCEndpoint: gone.URL, PortalEndpoint: gone.URL})
	err := c.Logout(ctx, session)
	if !errors.Is(err, sso.ErrStillSignedInAtPortal) {
		t.Errorf("Logout() with the portal unreachable = %v, want %v", err, sso.ErrStillSignedInAtPortal)
	}
	e.store.checkNoSecrets(t, err)
	if b, _ := e.store.Get(ctx, session.Key()); b != nil {
		t.Error("the token is still stored after Logout()")
	}
	if err := c.Logout(ctx, session); err != nil {
		t.Errorf("Logout() again = %v, want nil: nothing is left to sign out with", err)
	}
}

// Logout ends the sign-in at the portal with a refreshed token when the
// access token has expired: the refresh token kept it going there.
func TestLogout_EndsTheSignInAtThePortal(t *testing.T) {
	legacy := sso.Session{StartURL: "https://legacy.awsapps.com/start", Region: "us-east-1"}
	tests := []struct {
		name               string
		session            sso.Session
		revoke             bool // the refresh tokens
		advance            time.Duration
		refreshes, logouts int
	}{
		{name: "valid token", session: session, advance: 58 * time.Minute, logouts: 1},
		{name: "expired token", session: session, advance: 2 * time.Hour, refreshes: 1, logouts: 1},
		{name: "expired token, session ended", session: session, revoke: true, advance: 2 * time.Hour, refreshes: 1},
		{name: "expired legacy token", session: legacy, advance: 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, ssofake.Config{TokenLifetime: time.Hour})
			e.login(t, tt.session)
			if tt.revoke {
				e.fake.RevokeRefreshTokens()
			}
			e.clock.Advance(tt.advance)
			if err := e.client.Logout(context.Background(), tt.session); err != nil {
				t.Errorf("Logout() = %v", err)
			}
			if got := e.grants(refreshGrant); got != tt.refreshes {
				t.Errorf("refreshes = %d, want %d", got, tt.refreshes)
			}
			if got := e.fake.Count("Logout"); got != tt.logouts {
				t.Errorf("portal Logout calls = %d, want %d", got, tt.logouts)
			}
		})
	}
}
