package rotate

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/brokerd/brokerd/keychain"
)

// undo takes back a rotation that failed after the new key was created.
type undo struct {
	r      *Rotator
	ctx    context.Context
	req    Request
	signer aws.CredentialsProvider
	user   string
	fresh  keychain.Keys
}

// do puts the old key back in the store, then deletes the new key; it
// returns cause with what it did and what is left to do by hand. It keeps
// the new key when the old one could not be put back, as the store might
// hold the new one. It goes on when ctx is cancelled.
func (u undo) do(cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), time.Minute)
	defer cancel()
	old, fresh := keychain.Mask(u.req.Old.AccessKeyID), keychain.Mask(u.fresh.AccessKeyID)
	if err := u.r.store.SetKeys(ctx, u.req.Profile, u.req.Old); err != nil {
		return fmt.Errorf("%w; putting the old key %s back failed too (%w), so both keys are left active: once the store works, see which one profile %s holds and delete the other with aws iam delete-access-key --user-name %s --access-key-id ID", cause, old, err, u.req.Profile, u.user)
	}
	if err := u.r.iam.DeleteAccessKey(ctx, u.signer, u.user, u.fresh.AccessKeyID); err != nil {
		return fmt.Errorf("%w; the old key %s is stored again, but deleting the new key %s failed (%w): delete it with aws iam delete-access-key --user-name %s --access-key-id ID", cause, old, fresh, err, u.user)
	}
	return fmt.Errorf("%w; the old key %s is stored again and the new key deleted", cause, old)
}

// OldKeyError means that a rotation took effect, the new key stored and
// working, but that the old key could not be deleted: it still works, and
// is to be deleted by hand.
type OldKeyError struct {
	User     string // the IAM user's name
	KeyID    string // the old key's id, whole: mask it to show it
	NewKeyID string
	Err      error
}

func (e *OldKeyError) Error() string {
	return fmt.Sprintf("the new key %s is stored and works, but deleting the old key %s failed: %v; delete it by hand with aws iam delete-access-key --user-name %s --access-key-id ID (aws iam list-access-keys --user-name %s shows its whole ID)",
		keychain.Mask(e.NewKeyID), keychain.Mask(e.KeyID), e.Err, e.User, e.User)
}

func (e *OldKeyError) Unwrap() error { return e.Err }
