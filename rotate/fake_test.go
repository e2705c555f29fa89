package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/iamkeys"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/rotate"
)

var (
	_ rotate.IAM   = (*fakeAWS)(nil)
	_ rotate.STS   = (*fakeAWS)(nil)
	_ rotate.Store = (*fakeStore)(nil)
)

// fakeAWS is IAM and STS for one user, who signs with their keys or with
// session credentials.
type fakeAWS struct {
	mu       sync.Mutex
	arn      string
	keys     map[string]string // id: secret
	ids      []string          // the keys' ids, oldest first
	sessions map[string]bool   // ids of the user's session credentials
	// settle is how many calls a new key fails before AWS knows it.
	settle  int
	unknown map[string]int
	created int
	calls   []string // "operation signer-id"
	// fault, when it returns an error, fails the operation op signed by
	// signer (a key id), about key target (a key id, or "").
	fault func(op, signer, target string) error
}

func newFakeAWS(old keychain.Keys) *fakeAWS {
	return &fakeAWS{
		arn:      "arn:aws:iam::123456789012:user/team/alice",
		keys:     map[string]string{old.AccessKeyID: old.SecretAccessKey},
		ids:      []string{old.AccessKeyID},
		sessions: map[string]bool{},
		unknown:  map[string]int{},
	}
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)"}
}

// call authenticates the signer p of operation op on target.
func (f *fakeAWS) call(ctx context.Context, op string, p aws.CredentialsProvider, target string) error {
	creds, err := p.Retrieve(ctx)
	if err != nil {
		return err
	}
	f.calls = append(f.calls, op+" "+creds.AccessKeyID)
	if f.unknown[creds.AccessKeyID] > 0 {
		f.unknown[creds.AccessKeyID]--
		return apiError("InvalidClientTokenId")
	}
	if secret, ok := f.keys[creds.AccessKeyID]; (!ok || secret != creds.SecretAccessKey) && !f.sessions[creds.AccessKeyID] {
		return apiError("InvalidClientTokenId")
	}
	if f.fault != nil {
		return f.fault(op, creds.AccessKeyID, target)
	}
	return nil
}

func (f *fakeAWS) GetCallerIdentity(ctx context.Context, _ *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var o sts.Options
	for _, fn := range opts {
		fn(&o)
	}
	if err := f.call(ctx, "GetCallerIdentity", o.Credentials, ""); err != nil {
		return nil, err
	}
	return &sts.GetCallerIdentityOutput{Arn: aws.String(f.arn), Account: aws.String("123456789012")}, nil
}

func (f *fakeAWS) ListAccessKeys(ctx context.Context, p aws.CredentialsProvider, _ string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "ListAccessKeys", p, ""); err != nil {
		return nil, err
	}
	return slices.Clone(f.ids), nil
}

func (f *fakeAWS) CreateAccessKey(ctx context.Context, p aws.CredentialsProvider, _ string) (iamkeys.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "CreateAccessKey", p, ""); err != nil {
		return iamkeys.Key{}, err
	}
	if len(f.ids) >= 2 {
		return iamkeys.Key{}, apiError("LimitExceeded")
	}
	f.created++
	id, secret := fmt.Sprintf("AKIANEWNEWNEWNEW%04d", f.created), fmt.Sprintf("newsecret%031d", f.created)
	f.keys[id], f.ids, f.unknown[id] = secret, append(f.ids, id), f.settle
	if err := ctx.Err(); err != nil {
		return iamkeys.Key{}, err // IAM made the key; the client left before the answer
	}
	return iamkeys.Key{AccessKeyID: id, SecretAccessKey: secret}, nil
}

func (f *fakeAWS) DeleteAccessKey(ctx context.Context, p aws.CredentialsProvider, _, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "DeleteAccessKey", p, id); err != nil {
		return err
	}
	if _, ok := f.keys[id]; !ok {
		return apiError(iamkeys.CodeNoSuchEntity)
	}
	delete(f.keys, id)
	f.ids = slices.DeleteFunc(f.ids, func(s string) bool { return s == id })
	return nil
}

// works reports whether k is one of the user's keys.
func (f *fakeAWS) works(k keychain.Keys) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return k.AccessKeyID != "" && f.keys[k.AccessKeyID] == k.SecretAccessKey
}

// fakeStore holds keys; fail, when it returns an error, fails a write of k
// without writing.
type fakeStore struct {
	mu   sync.Mutex
	keys map[string]keychain.Keys
	fail func(k keychain.Keys) error
}

func (s *fakeStore) SetKeys(_ context.Context, profile string, k keychain.Keys) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(k); err != nil {
			return err
		}
	}
	s.keys[profile] = k
	return nil
}

func (s *fakeStore) get(profile string) keychain.Keys {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[profile]
}

// fakeClock is a clock whose Sleep moves it on at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
	// cancel, when set, is called at the first Sleep.
	cancel context.CancelFunc
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	c.now = c.now.Add(d)
	c.slept += d
	c.mu.Unlock()
	return ctx.Err()
}

var errFault = errors.New("injected fault")
