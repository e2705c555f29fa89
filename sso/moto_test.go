//go:build integration

package sso_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/brokerd/brokerd/internal/motoserver"
	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/sso"
)

// TestRoleCredentialsWithMoto signs in through the fake, whose portal
// mints role credentials with moto's AssumeRole, and checks that moto
// names the SSO role as the caller of those credentials.
func TestRoleCredentialsWithMoto(t *testing.T) {
	moto := motoserver.Run(t)
	stsClient := func(creds aws.Credentials) *sts.Client {
		return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })})
	}
	fake := ssofake.New(ssofake.Config{Mint: ssofake.AssumeRole(stsClient(aws.Credentials{
		AccessKeyID: "AKIA2BROKERDSSOFAKE0", SecretAccessKey: "brokerdSsoFakeSecretKey0123456789abcdefg"}), "alice@example.com")})
	defer fake.Close()
	c := sso.New(newFakeStore(), zapNop, sso.Config{OIDCEndpoint: fake.URL, PortalEndpoint: fake.URL})
	ctx := context.Background()
	l, err := c.StartLogin(ctx, session)
	if err != nil {
		t.Fatalf("StartLogin() = %v", err)
	}
	if resp, err := http.Get(l.VerificationURIComplete); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	creds, err := c.RoleCredentials(ctx, session, "123456789012", "AWSReservedSSO_Admin_0123456789abcdef")
	if err != nil {
		t.Fatalf("RoleCredentials() = %v", err)
	}
	id, err := stsClient(creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity() = %v", err)
	}
	want := "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com"
	if got := aws.ToString(id.Arn); got != want {
		t.Errorf("GetCallerIdentity().Arn = %q, want %q", got, want)
	}
}
