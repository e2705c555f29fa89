package broker

import (
	"cmp"
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/profile"
)

// keysSource starts from the long-term keys kept in the keychain. They
// only sign: a source profile is served a GetSessionToken session.
type keysSource struct{ b *Broker }

var _ Source = keysSource{}

func (s keysSource) Credentials(ctx context.Context, p profile.Plan) (aws.Credentials, error) {
	long, err := s.b.longTerm(ctx, p)
	if err != nil || len(p.Chain) > 0 {
		return long, err
	}
	client, err := s.b.sts.get(ctx, p.Name, p.Source, p.Source)
	if err != nil {
		return aws.Credentials{}, err
	}
	d := cmp.Or(p.Source.Duration, s.b.cfg.Duration)
	out, err := signed{client, long}.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(int32(d / time.Second))})
	if err != nil {
		return aws.Credentials{}, &stsError{op: "GetSessionToken", profile: p.Source, signer: p.Source.Name, err: err}
	}
	return stsCredentials(out.Credentials, "brokerd GetSessionToken"), nil
}

// longTerm reads the keys of p's source profile.
func (b *Broker) longTerm(ctx context.Context, p profile.Plan) (aws.Credentials, error) {
	k, err := b.keys.Keys(ctx, p.Source.Name)
	if err != nil {
		return aws.Credentials{}, &keysError{profile: p.Source.Name, listed: p.Listed, err: err}
	}
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Source: "brokerd keychain"}, nil
}
