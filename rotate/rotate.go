// Package rotate provides the rotation of an IAM user's access key: a new
// key is created, stored and tried before the old one is deleted, so that
// the store always holds a key that works.
package rotate

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/iamkeys"
	"github.com/brokerd/brokerd/keychain"
)

// IAM is the part of IAM that rotation uses; each call takes the
// credentials that sign it.
type IAM interface {
	ListAccessKeys(ctx context.Context, creds aws.CredentialsProvider, user string) ([]string, error)
	CreateAccessKey(ctx context.Context, creds aws.CredentialsProvider, user string) (iamkeys.Key, error)
	DeleteAccessKey(ctx context.Context, creds aws.CredentialsProvider, user, id string) error
}

var _ IAM = (*iamkeys.Client)(nil)

// STS is the part of the STS client that rotation uses.
type STS interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Store keeps a profile's long-term keys, replacing those it had.
type Store interface {
	SetKeys(ctx context.Context, profile string, k keychain.Keys) error
}

// StoreFunc is a function that is a Store, such as the AddKeys method of a
// *keychain.Store: rotate.StoreFunc(keys.AddKeys).
type StoreFunc func(ctx context.Context, profile string, k keychain.Keys) error

// SetKeys calls f.
func (f StoreFunc) SetKeys(ctx context.Context, profile string, k keychain.Keys) error {
	return f(ctx, profile, k)
}

// Config holds the rotator's tunables; a zero field takes the default named.
type Config struct {
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Settle bounds how long a new key is tried, as IAM and STS take a
	// moment to accept it, before it counts as not working (default 20s).
	// It bounds the retries of the deletion of the old key too.
	Settle time.Duration
}

// Rotator rotates access keys.
type Rotator struct {
	iam   IAM
	sts   STS
	store Store
	cfg   Config
}

// New returns a Rotator that calls AWS through iamClient and stsClient and
// keeps keys in store.
func New(iamClient IAM, stsClient STS, store Store, cfg Config) *Rotator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Settle == 0 {
		cfg.Settle = 20 * time.Second
	}
	return &Rotator{iam: iamClient, sts: stsClient, store: store, cfg: cfg}
}

// Request says whose key to rotate, and how to sign the IAM calls.
type Request struct {
	// Profile names the keys in the store.
	Profile string
	// Old are the keys the store holds for Profile.
	Old keychain.Keys
	// Signer signs the calls that find the user and create the new key,
	// and the deletion of the new key when rotation is undone; nil means
	// Old. When the account requires MFA for IAM, pass an MFA session of
	// Old (ideally cached: it is asked for credentials at each call).
	Signer aws.CredentialsProvider
	// NewSigner returns what signs the deletion of the old key, given the
	// new keys; nil means the new keys themselves. When the account
	// requires MFA for IAM, return an MFA session of the new keys.
	NewSigner func(keychain.Keys) aws.CredentialsProvider
}

// Result tells what a rotation did. Key ids are whole: mask them
// (keychain.Mask) to show them.
type Result struct {
	User     string // the IAM user's name
	OldKeyID string
	NewKeyID string // empty when no key was created
}

// Rotate replaces the access key of req.Profile with a new one of the same
// IAM user: it creates the new key, stores it, tries it with STS, then
// deletes the old key. A failure before the old key is deleted puts the old
// key back, as far as it can, and says what is left to do. When only the
// deletion of the old key fails, the rotation has taken effect: Rotate
// returns its Result and an *OldKeyError.
func (r *Rotator) Rotate(ctx context.Context, req Request) (Result, error) {
	old := req.Old
	res := Result{OldKeyID: old.AccessKeyID}
	signer := req.Signer
	if signer == nil {
		signer = static(old)
	}
	signer = aws.NewCredentialsCache(signer)
	arn, user, err := r.user(ctx, signer)
	if err != nil {
		return res, err
	}
	res.User = user
	if err := r.checkKeys(ctx, signer, user, old.AccessKeyID); err != nil {
		return res, err
	}
	// A creation once sent is seen through, whatever Ctrl-C comes: cut
	// short, IAM could make a key whose secret nobody ever sees, and the
	// user holds at most two.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	key, err := r.iam.CreateAccessKey(cctx, signer, user)
	cancel()
	if err != nil {
		return res, fmt.Errorf("create a new access key for IAM user %s: %w (nothing changed)", user, err)
	}
	fresh := keychain.Keys{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	res.NewKeyID = fresh.AccessKeyID
	u := undo{r: r, ctx: ctx, req: req, signer: signer, user: user, fresh: fresh}
	if err := ctx.Err(); err != nil {
		return res, u.do(fmt.Errorf("interrupted: %w", err))
	}
	if err := r.store.SetKeys(ctx, req.Profile, fresh); err != nil {
		return res, u.do(fmt.Errorf("store the new key %s: %w", keychain.Mask(fresh.AccessKeyID), err))
	}
	if err := r.verify(ctx, fresh, arn); err != nil {
		return res, u.do(fmt.Errorf("the new key %s does not work: %w", keychain.Mask(fresh.AccessKeyID), err))
	}
	deleter := static(fresh)
	if req.NewSigner != nil {
		deleter = req.NewSigner(fresh)
	}
	if err := r.deleteOld(ctx, aws.NewCredentialsCache(deleter), user, old.AccessKeyID); err != nil {
		return res, &OldKeyError{User: user, KeyID: old.AccessKeyID, NewKeyID: fresh.AccessKeyID, Err: err}
	}
	return res, nil
}

func static(k keychain.Keys) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")
}

func withSTS(p aws.CredentialsProvider) func(*sts.Options) {
	return func(o *sts.Options) { o.Credentials = p }
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
