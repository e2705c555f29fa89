package rotate_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/rotate"
)

var old = keychain.Keys{AccessKeyID: "AKIAOLDOLDOLDOLDOLD1", SecretAccessKey: "oldsecret0000000000000000000000000000000"}

const newID = "AKIANEWNEWNEWNEW0001"

// setup returns a rotator over fakes that hold old for profile dev.
func setup() (*rotate.Rotator, *fakeAWS, *fakeStore, *fakeClock) {
	cloud := newFakeAWS(old)
	store := &fakeStore{keys: map[string]keychain.Keys{"dev": old}}
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	r := rotate.New(cloud, cloud, store, rotate.Config{Now: clock.Now, Sleep: clock.Sleep, Settle: 10 * time.Second})
	return r, cloud, store, clock
}

func TestRotate(t *testing.T) {
	r, cloud, store, clock := setup()
	cloud.settle = 3 // the new key fails three calls before STS knows it
	res, err := r.Rotate(t.Context(), rotate.Request{Profile: "dev", Old: old})
	want := rotate.Result{User: "alice", OldKeyID: old.AccessKeyID, NewKeyID: newID}
	if err != nil || res != want {
		t.Fatalf("Rotate(%q) = %+v, %v, want %+v", "dev", res, err, want)
	}
	if got := store.get("dev"); got.AccessKeyID != newID || !cloud.works(got) {
		t.Errorf("stored key = %s, want the new key %s, working", keychain.Mask(got.AccessKeyID), keychain.Mask(newID))
	}
	if !slices.Equal(cloud.ids, []string{newID}) {
		t.Errorf("user's keys = %v, want only the new one", cloud.ids)
	}
	wantCalls := []string{
		"GetCallerIdentity " + old.AccessKeyID,
		"ListAccessKeys " + old.AccessKeyID,
		"CreateAccessKey " + old.AccessKeyID,
		"GetCallerIdentity " + newID, "GetCallerIdentity " + newID, "GetCallerIdentity " + newID,
		"GetCallerIdentity " + newID,
		"DeleteAccessKey " + newID,
	}
	if !slices.Equal(cloud.calls, wantCalls) {
		t.Errorf("calls = %q, want %q", cloud.calls, wantCalls)
	}
	if clock.slept != 7*time.Second { // 1s, 2s, 4s
		t.Errorf("waited %v for the new key, want 7s", clock.slept)
	}
}

func TestRotate_signers(t *testing.T) {
	r, cloud, store, _ := setup()
	cloud.sessions["ASIAOLDSESSION000001"] = true
	cloud.sessions["ASIANEWSESSION000001"] = true
	var sessionOf string
	req := rotate.Request{
		Profile: "dev",
		Old:     old,
		Signer:  credentials.NewStaticCredentialsProvider("ASIAOLDSESSION000001", "s", "t"),
		NewSigner: func(k keychain.Keys) aws.CredentialsProvider {
			sessionOf = k.AccessKeyID
			return credentials.NewStaticCredentialsProvider("ASIANEWSESSION000001", "s", "t")
		},
	}
	if _, err := r.Rotate(t.Context(), req); err != nil {
		t.Fatalf("Rotate(%q) with MFA sessions = %v, want nil", "dev", err)
	}
	wantCalls := []string{
		"GetCallerIdentity ASIAOLDSESSION000001",
		"ListAccessKeys ASIAOLDSESSION000001",
		"CreateAccessKey ASIAOLDSESSION000001",
		"GetCallerIdentity " + newID,
		"DeleteAccessKey ASIANEWSESSION000001",
	}
	if !slices.Equal(cloud.calls, wantCalls) || sessionOf != newID {
		t.Errorf("calls = %q, NewSigner got %s, want %q and the new key", cloud.calls, sessionOf, wantCalls)
	}
	if got := store.get("dev"); got.AccessKeyID != newID {
		t.Errorf("stored key = %s, want the new key", keychain.Mask(got.AccessKeyID))
	}
}

func TestRotate_failures(t *testing.T) {
	failOp := func(op, signer, target string) func(string, string, string) error {
		return func(o, s, tg string) error {
			if o == op && (signer == "" || s == signer) && (target == "" || tg == target) {
				return errFault
			}
			return nil
		}
	}
	tests := []struct {
		name   string
		fault  func(op, signer, target string) error
		store  func(k keychain.Keys) error
		settle int
		extra  bool     // the user has a second key already
		want   []string // parts of the error
		stored string   // the key id the store ends with
		keys   []string // the user's keys at the end
	}{
		{name: "identity fails", fault: failOp("GetCallerIdentity", "", ""),
			want: []string{"find the IAM user", "nothing changed"}, stored: old.AccessKeyID, keys: []string{old.AccessKeyID}},
		{name: "listing fails", fault: failOp("ListAccessKeys", "", ""),
			want: []string{"list the access keys of IAM user alice", "nothing changed"}, stored: old.AccessKeyID, keys: []string{old.AccessKeyID}},
		{name: "two keys already", extra: true,
			want:   []string{"IAM user alice already has 2 access keys", "AKIA…9999", "nothing changed"},
			stored: old.AccessKeyID, keys: []string{old.AccessKeyID, "AKIAOTHEROTHEROT9999"}},
		{name: "create fails", fault: failOp("CreateAccessKey", "", ""),
			want: []string{"create a new access key for IAM user alice", "injected fault", "nothing changed"}, stored: old.AccessKeyID, keys: []string{old.AccessKeyID}},
		{name: "store fails once",
			store: func(k keychain.Keys) error {
				if k.AccessKeyID == newID {
					return errFault
				}
				return nil
			},
			want:   []string{"store the new key AKIA…0001", "the old key AKIA…OLD1 is stored again and the new key deleted"},
			stored: old.AccessKeyID, keys: []string{old.AccessKeyID}},
		{name: "store fails, and the new key cannot be deleted",
			store: func(k keychain.Keys) error {
				if k.AccessKeyID == newID {
					return errFault
				}
				return nil
			},
			fault:  failOp("DeleteAccessKey", old.AccessKeyID, newID),
			want:   []string{"store the new key", "deleting the new key AKIA…0001 failed", "aws iam delete-access-key --user-name alice"},
			stored: old.AccessKeyID, keys: []string{old.AccessKeyID, newID}},
		{name: "store fails always",
			store:  func(keychain.Keys) error { return errFault },
			want:   []string{"store the new key", "putting the old key AKIA…OLD1 back failed too", "both keys are left active"},
			stored: old.AccessKeyID, keys: []string{old.AccessKeyID, newID}},
		{name: "new key never works", settle: 1000,
			want:   []string{"the new key AKIA…0001 does not work", "gave up after 10s", "InvalidClientTokenId", "the old key AKIA…OLD1 is stored again and the new key deleted"},
			stored: old.AccessKeyID, keys: []string{old.AccessKeyID}},
		{name: "new key refused for good", fault: failOp("GetCallerIdentity", newID, ""),
			want:   []string{"the new key AKIA…0001 does not work", "injected fault", "stored again"},
			stored: old.AccessKeyID, keys: []string{old.AccessKeyID}},
		{name: "new key fails and the old cannot be put back", settle: 1000,
			store: func(k keychain.Keys) error {
				if k.AccessKeyID == old.AccessKeyID {
					return errFault
				}
				return nil
			},
			want:   []string{"does not work", "both keys are left active"},
			stored: newID, keys: []string{old.AccessKeyID, newID}},
		{name: "old key cannot be deleted", fault: failOp("DeleteAccessKey", "", old.AccessKeyID),
			want:   []string{"the new key AKIA…0001 is stored and works, but deleting the old key AKIA…OLD1 failed", "injected fault", "aws iam delete-access-key --user-name alice --access-key-id ID"},
			stored: newID, keys: []string{old.AccessKeyID, newID}},
		{name: "old key deleted already",
			fault: func(op, _, target string) error {
				if op == "DeleteAccessKey" && target == old.AccessKeyID {
					return &types.NoSuchEntityException{Message: aws.String("gone")}
				}
				return nil
			},
			stored: newID, keys: []string{old.AccessKeyID, newID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cloud, store, clock := setup()
			cloud.fault, cloud.settle, store.fail = tt.fault, tt.settle, tt.store
			if tt.extra {
				cloud.keys["AKIAOTHEROTHEROT9999"], cloud.ids = "x", append(cloud.ids, "AKIAOTHEROTHEROT9999")
			}
			_, err := r.Rotate(t.Context(), rotate.Request{Profile: "dev", Old: old})
			if tt.want == nil && err != nil {
				t.Errorf("Rotate(%q) = %v, want nil", "dev", err)
			}
			if tt.want != nil && err == nil {
				t.Fatalf("Rotate(%q) = nil, want an error with %q", "dev", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Rotate(%q) = %v, want an error with %q", "dev", err, w)
				}
			}
			if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n")) {
				t.Errorf("Rotate(%q) = %q, want one line without a secret", "dev", err)
			}
			got := store.get("dev")
			if got.AccessKeyID != tt.stored {
				t.Errorf("stored key = %s, want %s", keychain.Mask(got.AccessKeyID), keychain.Mask(tt.stored))
			}
			if !cloud.works(got) {
				t.Errorf("stored key %s is not one of the user's keys %v", keychain.Mask(got.AccessKeyID), cloud.ids)
			}
			if !slices.Equal(cloud.ids, tt.keys) {
				t.Errorf("user's keys = %v, want %v", cloud.ids, tt.keys)
			}
			if clock.slept > 10*time.Second {
				t.Errorf("waited %v, want at most Settle (10s)", clock.slept)
			}
		})
	}
}

func TestRotate_oldKeyError(t *testing.T) {
	r, cloud, _, _ := setup()
	cloud.fault = func(op, _, target string) error {
		if op == "DeleteAccessKey" && target == old.AccessKeyID {
			return errFault
		}
		return nil
	}
	res, err := r.Rotate(t.Context(), rotate.Request{Profile: "dev", Old: old})
	oke, ok := errors.AsType[*rotate.OldKeyError](err)
	if !ok || oke.KeyID != old.AccessKeyID || oke.User != "alice" || !errors.Is(err, errFault) {
		t.Fatalf("Rotate(%q) = %v, want an *OldKeyError for %s of alice, wrapping the fault", "dev", err, keychain.Mask(old.AccessKeyID))
	}
	if res.NewKeyID != newID {
		t.Errorf("Rotate(%q) result = %+v, want the new key's id with the error", "dev", res)
	}
}

// TestRotate_cancelled checks that a rotation interrupted while the new
// key is tried is undone all the same.
func TestRotate_cancelled(t *testing.T) {
	r, cloud, store, clock := setup()
	cloud.settle = 1000
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock.cancel = cancel
	_, err := r.Rotate(ctx, rotate.Request{Profile: "dev", Old: old})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stored again and the new key deleted") {
		t.Errorf("Rotate(%q) cancelled = %v, want the interruption and the rotation undone", "dev", err)
	}
	if got := store.get("dev"); got != old || !slices.Equal(cloud.ids, []string{old.AccessKeyID}) {
		t.Errorf("after cancel: stored %s, keys %v, want the old key alone", keychain.Mask(got.AccessKeyID), cloud.ids)
	}
}

// TestRotate_cancelledWhileCreating interrupts a rotation while IAM makes
// the new key: the creation is seen through, then undone, rather than cut
// short and the new key left behind with a secret nobody saw.
func TestRotate_cancelledWhileCreating(t *testing.T) {
	r, cloud, store, _ := setup()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cloud.fault = func(op, _, _ string) error {
		if op == "CreateAccessKey" {
			cancel() // Ctrl-C while the request is on its way
		}
		return nil
	}
	_, err := r.Rotate(ctx, rotate.Request{Profile: "dev", Old: old})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stored again and the new key deleted") {
		t.Errorf("Rotate(%q) cancelled = %v, want the interruption and the rotation undone", "dev", err)
	}
	if got := store.get("dev"); got != old || !slices.Equal(cloud.ids, []string{old.AccessKeyID}) {
		t.Errorf("after cancel: stored %s, keys %v, want the old key alone", keychain.Mask(got.AccessKeyID), cloud.ids)
	}
}

func TestRotate_notAUser(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:iam::123456789012:root", "the account root user's"},
		{"arn:aws:sts::123456789012:assumed-role/admin/me", "not of an IAM user"},
		{"arn:aws:sts::123456789012:federated-user/me", "not of an IAM user"},
		{"arn:aws:iam::123456789012:user/", "not of an IAM user"},
		{"", "not of an IAM user"},
	}
	for _, tt := range tests {
		r, cloud, store, _ := setup()
		cloud.arn = tt.arn
		_, err := r.Rotate(t.Context(), rotate.Request{Profile: "dev", Old: old})
		if err == nil || !strings.Contains(err.Error(), tt.want) || cloud.created != 0 || store.get("dev") != old {
			t.Errorf("Rotate(%q) as %q = %v, want an error with %q and nothing changed", "dev", tt.arn, err, tt.want)
		}
	}
}

func TestRotate_userName(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:iam::123456789012:user/alice", "alice"},
		{"arn:aws:iam::123456789012:user/division/team/bob", "bob"},
		{"arn:aws-us-gov:iam::123456789012:user/carol", "carol"},
		{"arn:aws-cn:iam::123456789012:user/ops/dave@example.com", "dave@example.com"},
	}
	for _, tt := range tests {
		r, cloud, _, _ := setup()
		cloud.arn = tt.arn
		res, err := r.Rotate(t.Context(), rotate.Request{Profile: "dev", Old: old})
		if err != nil || res.User != tt.want {
			t.Errorf("Rotate(%q) as %q = %q, %v, want user %q", "dev", tt.arn, res.User, err, tt.want)
		}
	}
}
