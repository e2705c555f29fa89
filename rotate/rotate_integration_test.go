//go:build integration && unix

package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/iamkeys"
	"github.com/brokerd/brokerd/internal/motoserver"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/rotate"
)

var (
	_ rotate.IAM = faultyIAM{}
	_ rotate.STS = faultySTS{}
)

// faultyIAM is IAM failing the creation of keys, or the deletion of key
// old, as its field fail says ("create", "delete").
type faultyIAM struct {
	rotate.IAM
	fail, old string
}

func (f faultyIAM) CreateAccessKey(ctx context.Context, p aws.CredentialsProvider, user string) (iamkeys.Key, error) {
	if f.fail == "create" {
		return iamkeys.Key{}, errFault
	}
	return f.IAM.CreateAccessKey(ctx, p, user)
}

func (f faultyIAM) DeleteAccessKey(ctx context.Context, p aws.CredentialsProvider, user, id string) error {
	if f.fail == "delete" && id == f.old {
		return errFault
	}
	return f.IAM.DeleteAccessKey(ctx, p, user, id)
}

// faultySTS is STS refusing every key but old, when fail is set.
type faultySTS struct {
	rotate.STS
	fail bool
	old  string
}

func (f faultySTS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	var o sts.Options
	for _, fn := range opts {
		fn(&o)
	}
	if creds, err := o.Credentials.Retrieve(ctx); f.fail && (err != nil || creds.AccessKeyID != f.old) {
		return nil, errFault
	}
	return f.STS.GetCallerIdentity(ctx, in, opts...)
}

func TestRotate_moto(t *testing.T) {
	cfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoserver.Run(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAADMINADMINADMIN1", "admin", ""),
	}
	// The SDK's IAM client sets up users; rotation calls IAM through
	// iamkeys, the client under test.
	iamClient, stsClient := iam.NewFromConfig(cfg), sts.NewFromConfig(cfg)
	keysClient, err := iamkeys.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// newUser creates an IAM user with one key, and returns the key.
	newUser := func(t *testing.T, name string) keychain.Keys {
		t.Helper()
		if _, err := iamClient.CreateUser(ctx, &iam.CreateUserInput{UserName: &name, Path: aws.String("/brokerd/test/")}); err != nil {
			t.Fatalf("CreateUser(%q) = %v", name, err)
		}
		out, err := iamClient.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: &name})
		if err != nil {
			t.Fatalf("CreateAccessKey(%q) = %v", name, err)
		}
		return keychain.Keys{AccessKeyID: *out.AccessKey.AccessKeyId, SecretAccessKey: *out.AccessKey.SecretAccessKey}
	}
	keysOf := func(t *testing.T, name string) []string {
		t.Helper()
		out, err := iamClient.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: &name})
		if err != nil {
			t.Fatalf("ListAccessKeys(%q) = %v", name, err)
		}
		var ids []string
		for _, k := range out.AccessKeyMetadata {
			ids = append(ids, *k.AccessKeyId)
		}
		return ids
	}
	// works reports whether STS takes k as a key of user; moto answers
	// user/moto for keys it does not know.
	works := func(k keychain.Keys, name string) bool {
		out, err := stsClient.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")
		})
		return err == nil && aws.ToString(out.Arn) == "arn:aws:iam::123456789012:user/brokerd/test/"+name
	}

	tests := []struct {
		fail   string // the step that fails: "create", "verify" or "delete"
		extra  bool   // the user has two keys already
		newKey bool   // the store ends with a new key
		keys   int    // the user's keys at the end
	}{
		{fail: "", newKey: true, keys: 1},
		{fail: "create", keys: 1},
		{fail: "verify", keys: 1},
		{fail: "delete", newKey: true, keys: 2},
		{extra: true, keys: 2},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("fail=%s,extra=%v", tt.fail, tt.extra), func(t *testing.T) {
			name := fmt.Sprintf("user%d", i)
			old := newUser(t, name)
			if tt.extra {
				if _, err := iamClient.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: &name}); err != nil {
					t.Fatal(err)
				}
			}
			store := &fakeStore{keys: map[string]keychain.Keys{"dev": old}}
			r := rotate.New(
				faultyIAM{IAM: keysClient, fail: tt.fail, old: old.AccessKeyID},
				faultySTS{STS: stsClient, fail: tt.fail == "verify", old: old.AccessKeyID},
				store, rotate.Config{Settle: 3 * time.Second})
			res, err := r.Rotate(ctx, rotate.Request{Profile: "dev", Old: old})
			t.Logf("Rotate: %v", err)
			rotated := tt.fail == "" && !tt.extra
			if (err == nil) != rotated {
				t.Errorf("Rotate(%q) = %v, want an error only when a step fails", "dev", err)
			}
			if _, ok := errors.AsType[*rotate.OldKeyError](err); ok != (tt.fail == "delete") {
				t.Errorf("Rotate(%q) = %v, want an *OldKeyError only when the deletion fails", "dev", err)
			}
			got := store.get("dev")
			if !works(got, name) {
				t.Errorf("stored key %s does not work", keychain.Mask(got.AccessKeyID))
			}
			if (got.AccessKeyID != old.AccessKeyID) != tt.newKey || tt.newKey && got.AccessKeyID != res.NewKeyID {
				t.Errorf("stored key = %s, want new %v", keychain.Mask(got.AccessKeyID), tt.newKey)
			}
			ids := keysOf(t, name)
			if len(ids) != tt.keys || !slices.Contains(ids, got.AccessKeyID) {
				t.Errorf("user's keys = %d, with the stored one %v; want %d", len(ids), slices.Contains(ids, got.AccessKeyID), tt.keys)
			}
			if rotated && (slices.Contains(ids, old.AccessKeyID) || works(old, name)) {
				t.Errorf("old key %s is still the user's after a rotation", keychain.Mask(old.AccessKeyID))
			}
		})
	}
}
