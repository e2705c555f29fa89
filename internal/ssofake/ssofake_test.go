package ssofake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ssoportal "github.com/aws/aws-sdk-go-v2/service/sso"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/aws/smithy-go"
	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/jonboulle/clockwork"
)

// clients returns SDK clients of the fake, with no retries.
func clients(s *ssofake.Server) (*ssooidc.Client, *ssoportal.Client) {
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}
	return ssooidc.NewFromConfig(cfg, func(o *ssooidc.Options) { o.BaseEndpoint = aws.String(s.URL) }),
		ssoportal.NewFromConfig(cfg, func(o *ssoportal.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// flow registers a client with scopes and signs in through the device flow.
func flow(t *testing.T, s *ssofake.Server, oidc *ssooidc.Client) (*ssooidc.RegisterClientOutput, *ssooidc.CreateTokenOutput) {
	t.Helper()
	ctx := context.Background()
	reg, err := oidc.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("t"), ClientType: aws.String("public"),
		Scopes: []string{"sso:account:access"}})
	if err != nil {
		t.Fatalf("RegisterClient() = %v", err)
	}
	dev, err := oidc.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{ClientId: reg.ClientId,
		ClientSecret: reg.ClientSecret, StartUrl: aws.String("https://x.awsapps.com/start")})
	if err != nil {
		t.Fatalf("StartDeviceAuthorization() = %v", err)
	}
	in := &ssooidc.CreateTokenInput{ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
		GrantType: aws.String("urn:ietf:params:oauth:grant-type:device_code"), DeviceCode: dev.DeviceCode}
	var pending *types.AuthorizationPendingException
	if _, err := oidc.CreateToken(ctx, in); !errors.As(err, &pending) {
		t.Fatalf("CreateToken() before approval = %v, want %T", err, pending)
	}
	if aws.ToString(pending.Error_) != "authorization_pending" {
		t.Errorf("AuthorizationPendingException.Error_ = %q, want authorization_pending", aws.ToString(pending.Error_))
	}
	if err := s.Approve(aws.ToString(dev.UserCode)); err != nil {
		t.Fatal(err)
	}
	tok, err := oidc.CreateToken(ctx, in)
	if err != nil {
		t.Fatalf("CreateToken() after approval = %v", err)
	}
	return reg, tok
}

func TestServer_ErrorsAsTheSDKModelsThem(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := ssofake.New(ssofake.Config{Clock: clock, RegistrationLifetime: 2 * time.Hour, TokenLifetime: time.Hour,
		Mint: func(_ context.Context, account, role string) (aws.Credentials, error) {
			if role == "Nobody" {
				return aws.Credentials{}, ssofake.ErrNoAccess
			}
			return aws.Credentials{}, fmt.Errorf("mint %s: boom", role)
		}})
	defer s.Close()
	oidc, portal := clients(s)
	ctx := context.Background()
	reg, tok := flow(t, s, oidc)
	if tok.RefreshToken == nil || aws.ToString(tok.TokenType) != "Bearer" || tok.ExpiresIn != 3600 {
		t.Errorf("CreateToken() = %+v, want a Bearer token for 3600 s with a refresh token", tok)
	}
	refresh := func(token *string) error {
		_, err := oidc.CreateToken(ctx, &ssooidc.CreateTokenInput{ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
			GrantType: aws.String("refresh_token"), RefreshToken: token})
		return err
	}
	role := func(token, name string) error {
		_, err := portal.GetRoleCredentials(ctx, &ssoportal.GetRoleCredentialsInput{AccessToken: aws.String(token),
			AccountId: aws.String("111122223333"), RoleName: aws.String(name)})
		return err
	}
	tests := []struct {
		name string
		call func() error
		want string // the error code
	}{
		{"confidential client", func() error {
			_, err := oidc.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String("t"), ClientType: aws.String("confidential")})
			return err
		}, "InvalidClientMetadataException"},
		{"wrong client secret", func() error {
			_, err := oidc.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{ClientId: reg.ClientId,
				ClientSecret: aws.String("wrong"), StartUrl: aws.String("https://x.awsapps.com/start")})
			return err
		}, "InvalidClientException"},
		{"unknown grant type", func() error {
			_, err := oidc.CreateToken(ctx, &ssooidc.CreateTokenInput{ClientId: reg.ClientId, ClientSecret: reg.ClientSecret,
				GrantType: aws.String("password")})
			return err
		}, "UnsupportedGrantTypeException"},
		{"unknown refresh token", func() error { return refresh(aws.String("aor-unknown")) }, "InvalidGrantException"},
		{"refresh", func() error { return refresh(tok.RefreshToken) }, ""},
		{"spent refresh token", func() error { return refresh(tok.RefreshToken) }, "InvalidGrantException"},
		{"unknown access token", func() error { return role("aoa-unknown", "Admin") }, "UnauthorizedException"},
		// Accepted, and answered with the Mint's error.
		{"access token before the refresh", func() error { return role(aws.ToString(tok.AccessToken), "Admin") }, "InternalServerException"},
		{"registration expired", func() error { clock.Advance(3 * time.Hour); return refresh(aws.String("x")) }, "InvalidClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var apiErr smithy.APIError
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("call = %v, want nil", err)
			case tt.want != "" && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.want):
				t.Errorf("call = %v, want %s", err, tt.want)
			}
		})
	}
	var unauth *ssotypes.UnauthorizedException
	if err := role("aoa-unknown", "Admin"); !errors.As(err, &unauth) {
		t.Errorf("GetRoleCredentials() = %v, want %T", err, unauth)
	}
}

func TestServer_RoleCredentials(t *testing.T) {
	s := ssofake.New(ssofake.Config{Mint: func(_ context.Context, account, role string) (aws.Credentials, error) {
		switch role {
		case "Nobody":
			return aws.Credentials{}, fmt.Errorf("%s: %w", role, ssofake.ErrNoAccess)
		case "Broken":
			return aws.Credentials{}, errors.New("STS is down")
		}
		return aws.Credentials{AccessKeyID: "ASIA" + account, SecretAccessKey: role, SessionToken: "t",
			Expires: time.UnixMilli(1_800_000_000_000)}, nil
	}})
	defer s.Close()
	oidc, portal := clients(s)
	_, tok := flow(t, s, oidc)
	tests := []struct{ role, wantKey, wantErr string }{
		{"Admin", "ASIA111122223333", ""},
		{"Nobody", "", "ForbiddenException"},
		{"Broken", "", "InternalServerException"},
	}
	for _, tt := range tests {
		out, err := portal.GetRoleCredentials(context.Background(), &ssoportal.GetRoleCredentialsInput{AccessToken: tok.AccessToken,
			AccountId: aws.String("111122223333"), RoleName: aws.String(tt.role)})
		var apiErr smithy.APIError
		switch {
		case tt.wantErr != "" && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantErr):
			t.Errorf("GetRoleCredentials(%q) = %v, want %s", tt.role, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("GetRoleCredentials(%q) = %v", tt.role, err)
		case tt.wantErr == "":
			rc := out.RoleCredentials
			if aws.ToString(rc.AccessKeyId) != tt.wantKey || aws.ToString(rc.SecretAccessKey) != tt.role || rc.Expiration != 1_800_000_000_000 {
				t.Errorf("GetRoleCredentials(%q) = %+v, want key %s expiring at 1800000000000", tt.role, rc, tt.wantKey)
			}
		}
	}
	if got := s.Count("GetRoleCredentials"); got != 3 {
		t.Errorf("Count(GetRoleCredentials) = %d, want 3", got)
	}
	if err := s.Approve("NOPE-NOPE"); err == nil {
		t.Error("Approve() of an unknown code = nil, want an error")
	}
}

// TestServer_RealSizes checks the lengths of what the server issues with
// RealSizes, as IAM Identity Center issues them, and without.
func TestServer_RealSizes(t *testing.T) {
	type span struct{ min, max int }
	for _, tt := range []struct {
		real          bool
		secret, token span
	}{
		{real: true, secret: span{1850, 1950}, token: span{1050, 1150}},
		{real: false, secret: span{32, 100}, token: span{32, 100}},
	} {
		t.Run(fmt.Sprint("RealSizes=", tt.real), func(t *testing.T) {
			s := ssofake.New(ssofake.Config{RealSizes: tt.real})
			defer s.Close()
			oidc, _ := clients(s)
			reg, tok := flow(t, s, oidc)
			refreshed, err := oidc.CreateToken(context.Background(), &ssooidc.CreateTokenInput{ClientId: reg.ClientId,
				ClientSecret: reg.ClientSecret, GrantType: aws.String("refresh_token"), RefreshToken: tok.RefreshToken})
			if err != nil {
				t.Fatalf("CreateToken(refresh) = %v", err)
			}
			for _, v := range []struct {
				name, value string
				want        span
			}{
				{"client secret", aws.ToString(reg.ClientSecret), tt.secret},
				{"access token", aws.ToString(tok.AccessToken), tt.token},
				{"refresh token", aws.ToString(tok.RefreshToken), tt.token},
				{"refreshed access token", aws.ToString(refreshed.AccessToken), tt.token},
				{"refreshed refresh token", aws.ToString(refreshed.RefreshToken), tt.token},
			} {
				if n := len(v.value); n < v.want.min || n > v.want.max {
					t.Errorf("%s of %d characters, want %d to %d", v.name, n, v.want.min, v.want.max)
				}
			}
		})
	}
}
