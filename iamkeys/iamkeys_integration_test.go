//go:build integration && unix

package iamkeys_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/iamkeys"
	"github.com/brokerd/brokerd/internal/motoserver"
)

// TestClient_moto makes each call against moto's IAM, as the SDK's IAM
// client sees the result, and reads IAM's error codes.
func TestClient_moto(t *testing.T) {
	admin := credentials.NewStaticCredentialsProvider("AKIAADMINADMINADMIN1", "admin", "")
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(motoserver.Run(t)), Credentials: admin}
	sdk := iam.NewFromConfig(cfg)
	c, err := iamkeys.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	user := "alice"
	if _, err := sdk.CreateUser(ctx, &iam.CreateUserInput{UserName: &user}); err != nil {
		t.Fatal(err)
	}

	key, err := c.CreateAccessKey(ctx, admin, user)
	if err != nil || len(key.AccessKeyID) != 20 || len(key.SecretAccessKey) != 40 {
		t.Fatalf("CreateAccessKey(%q) = %d and %d characters, %v; want a key", user, len(key.AccessKeyID), len(key.SecretAccessKey), err)
	}
	ids, err := c.ListAccessKeys(ctx, admin, user)
	if err != nil || !slices.Equal(ids, []string{key.AccessKeyID}) {
		t.Errorf("ListAccessKeys(%q) = %v, %v; want the new key's id", user, ids, err)
	}
	if err := c.DeleteAccessKey(ctx, admin, user, key.AccessKeyID); err != nil {
		t.Errorf("DeleteAccessKey = %v", err)
	}
	out, err := sdk.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: &user})
	if err != nil || len(out.AccessKeyMetadata) != 0 {
		t.Errorf("the SDK lists %v, %v after the deletion; want no key", out, err)
	}

	err = c.DeleteAccessKey(ctx, admin, user, key.AccessKeyID)
	if api, ok := errors.AsType[smithy.APIError](err); !ok || api.ErrorCode() != iamkeys.CodeNoSuchEntity {
		t.Errorf("DeleteAccessKey of a deleted key = %v, want code %s", err, iamkeys.CodeNoSuchEntity)
	}
	if _, err := c.ListAccessKeys(ctx, admin, "nobody"); err == nil {
		t.Errorf("ListAccessKeys(nobody) = nil error, want IAM's")
	}
}
