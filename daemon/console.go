package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/console"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/region"
)

// Console makes a URL that signs in to the AWS console as a profile: with
// the credentials the cache serves for a role or an IAM Identity Center
// profile, or for an IAM user's source profile through GetFederationToken
// with its long-term keys (the federation endpoint refuses the
// GetSessionToken credentials served for it). The URL holds a sign-in
// token: it is returned, never logged.
func (s *service) Console(ctx context.Context, r control.Console) (control.ConsoleURL, error) {
	p, err := s.plan(r.Profile)
	if err != nil {
		return control.ConsoleURL{}, err
	}
	d, err := seconds("duration_seconds", r.DurationSeconds)
	if err != nil {
		return control.ConsoleURL{}, err
	}
	federated := len(p.Chain) == 0 && p.Kind != profile.KindSSO
	longest := 12 * time.Hour
	if federated {
		longest = 36 * time.Hour
	}
	if d != 0 && (d < 15*time.Minute || d > longest) {
		return control.ConsoleURL{}, fault.New(fault.InvalidInput, "a console session of profile %q lasts from 15m to %s, not %s", p.Name, longest, d)
	}
	cfg := console.Config{FederationURL: s.federationURL}
	var creds aws.Credentials
	if federated {
		keys, fed, err := s.broker.Federation(ctx, p)
		if err != nil {
			return control.ConsoleURL{}, err
		}
		creds = keys
		cfg.NewSTS = func(context.Context, aws.Credentials, string) (console.STS, error) { return fed, nil }
	} else {
		served, err := s.cache.Get(ctx, p.Name)
		if err != nil {
			return control.ConsoleURL{}, err
		}
		creds = served.Credentials.Credentials
	}
	u, err := console.New(cfg).URL(ctx, creds, console.Request{Region: cmp.Or(r.Region, region.Of(p)), Partition: partition(p),
		Destination: r.Destination, Duration: d})
	if err != nil {
		return control.ConsoleURL{}, consoleFault(p.Name, err)
	}
	s.log.Info("console sign-in URL made", zap.String("profile", p.Name), zap.Bool("federated", federated))
	return control.ConsoleURL{URL: u}, nil
}

// partition is the partition of the credentials of p, as its role's ARN
// names it (arn:aws-us-gov:iam::…); "" when it has no role.
func partition(p profile.Plan) string {
	role, ok := p.Role()
	if !ok {
		return ""
	}
	_, rest, _ := strings.Cut(role.RoleARN, ":")
	part, _, _ := strings.Cut(rest, ":")
	return part
}

// consoleFault gives a failure to make a console URL a kind: STS's own
// (GetFederationToken) as the broker classified it, the federation
// endpoint unreachable, or refusing.
func consoleFault(name string, err error) error {
	var netErr net.Error
	switch {
	case fault.KindOf(err) != fault.Internal:
		return err
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return &fault.Error{Kind: fault.STSUnavailable, Code: "FederationUnavailable", Err: err,
			Message: fmt.Sprintf("console sign-in for profile %q: %v: check the network and try again", name, err)}
	case errors.Is(err, context.Canceled):
		return fault.Wrap(fault.Cancelled, err)
	}
	return &fault.Error{Kind: fault.Refused, Code: "FederationRefused", Err: err,
		Message: fmt.Sprintf("console sign-in for profile %q: %v", name, err)}
}
