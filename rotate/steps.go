package rotate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/iamkeys"
	"github.com/brokerd/brokerd/keychain"
)

// user returns the ARN and the name of the IAM user whose credentials p are.
func (r *Rotator) user(ctx context.Context, p aws.CredentialsProvider) (arn, name string, err error) {
	out, err := r.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, withSTS(p))
	if err != nil {
		return "", "", fmt.Errorf("find the IAM user of the keys: %w (nothing changed)", err)
	}
	arn = aws.ToString(out.Arn)
	name, err = userName(arn)
	return arn, name, err
}

// userName returns NAME from arn:PARTITION:iam::ACCOUNT:user/PATH/NAME.
func userName(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "iam" {
		if path, ok := strings.CutPrefix(parts[5], "user/"); ok {
			if name := path[strings.LastIndex(path, "/")+1:]; name != "" {
				return name, nil
			}
		}
		if parts[5] == "root" {
			return "", errors.New("the keys are the account root user's: brokerd rotates only an IAM user's keys (nothing changed)")
		}
	}
	return "", fmt.Errorf("the keys are those of %s, not of an IAM user: brokerd rotates only an IAM user's keys (nothing changed)", arn)
}

// checkKeys makes sure that old is a key of user, and that IAM lets the
// user have one more.
func (r *Rotator) checkKeys(ctx context.Context, p aws.CredentialsProvider, user, old string) error {
	ids, err := r.iam.ListAccessKeys(ctx, p, user)
	if err != nil {
		return fmt.Errorf("list the access keys of IAM user %s: %w (nothing changed)", user, err)
	}
	if !slices.Contains(ids, old) {
		return fmt.Errorf("IAM user %s has no access key %s, the stored one: the stored keys and those signing IAM calls are not the same user's (nothing changed)", user, keychain.Mask(old))
	}
	if len(ids) >= 2 {
		other := ids[0]
		if other == old {
			other = ids[1]
		}
		return fmt.Errorf("IAM user %s already has 2 access keys, the most IAM allows: delete the one brokerd does not hold, %s, if nothing else uses it, with aws iam delete-access-key --user-name %s --access-key-id ID (aws iam list-access-keys shows the whole ID), and run again (nothing changed)", user, keychain.Mask(other), user)
	}
	return nil
}

// verify tries k until STS says it is the key of the user with arn.
func (r *Rotator) verify(ctx context.Context, k keychain.Keys, arn string) error {
	return r.retry(ctx, func() error {
		out, err := r.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, withSTS(static(k)))
		if err != nil {
			return err
		}
		if got := aws.ToString(out.Arn); got != arn {
			return fmt.Errorf("STS says it is %s's, not %s's", got, arn)
		}
		return nil
	})
}

// deleteOld deletes the key id of user, signed by p; a key already gone
// counts as deleted.
func (r *Rotator) deleteOld(ctx context.Context, p aws.CredentialsProvider, user, id string) error {
	return r.retry(ctx, func() error {
		err := r.iam.DeleteAccessKey(ctx, p, user, id)
		if api, ok := errors.AsType[smithy.APIError](err); ok && api.ErrorCode() == iamkeys.CodeNoSuchEntity {
			return nil
		}
		return err
	})
}

// retry calls f until it succeeds, fails in a way that waiting does not
// mend, or the time to settle has passed.
func (r *Rotator) retry(ctx context.Context, f func() error) error {
	start := r.cfg.Now()
	wait := time.Second
	for {
		err := f()
		if err == nil || !unknownKey(err) {
			return err
		}
		spent := r.cfg.Now().Sub(start)
		if spent >= r.cfg.Settle {
			return fmt.Errorf("gave up after %s: %w", spent.Round(time.Second), err)
		}
		if serr := r.cfg.Sleep(ctx, min(wait, r.cfg.Settle-spent)); serr != nil {
			return fmt.Errorf("interrupted after %s (%w): %w", spent.Round(time.Second), serr, err)
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// unknownKey reports whether err is AWS not knowing the key that signed
// the call yet, as happens for a few seconds after a key is created.
func unknownKey(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return true
	}
	return false
}
