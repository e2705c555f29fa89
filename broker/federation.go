package broker

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/profile"
)

// Federator calls GetFederationToken for a source profile, signed with its
// long-term keys; console.STS takes it. Its errors are *fault.Error.
type Federator struct {
	s      signed
	source profile.Profile
	name   string // the profile asked for
}

// GetFederationToken calls STS's GetFederationToken.
func (f Federator) GetFederationToken(ctx context.Context, in *sts.GetFederationTokenInput, opts ...func(*sts.Options)) (*sts.GetFederationTokenOutput, error) {
	out, err := f.s.client.GetFederationToken(ctx, in, append(opts, f.s.sign)...)
	if err != nil {
		return nil, classify(f.name, &stsError{op: "GetFederationToken", profile: f.source, signer: f.source.Name, err: err})
	}
	return out, nil
}

// Federation returns the long-term keys of the source profile of plan p, and
// a Federator that signs with them through an STS client configured for
// it. This is how an IAM user signs in to the console: the federation
// endpoint refuses GetSessionToken credentials, MFA sessions included.
// Errors are *fault.Error.
func (b *Broker) Federation(ctx context.Context, p profile.Plan) (aws.Credentials, Federator, error) {
	if p.Kind != profile.KindKeys && p.Kind != profile.KindMFA {
		return aws.Credentials{}, Federator{}, fault.New(fault.InvalidInput, "profile %q has no long-term keys of its own to federate with", p.Name)
	}
	long, err := b.longTerm(ctx, p)
	if err != nil {
		return aws.Credentials{}, Federator{}, classify(p.Name, err)
	}
	client, err := b.sts.get(ctx, p.Source, p.Source)
	if err != nil {
		return aws.Credentials{}, Federator{}, classify(p.Name, err)
	}
	return long, Federator{s: signed{client, long}, source: p.Source, name: p.Name}, nil
}
