package broker

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/sso"
)

// SSO gets role credentials from IAM Identity Center with a session's
// token; *sso.Client implements it.
type SSO interface {
	RoleCredentials(ctx context.Context, s sso.Session, accountID, roleName string) (aws.Credentials, error)
}

var _ SSO = (*sso.Client)(nil)

// SSOSession returns the sso package's session of an SSO plan.
func SSOSession(p profile.Plan) sso.Session {
	return sso.Session{Name: p.SSO.Name, StartURL: p.SSO.StartURL, Region: p.SSO.Region, Scopes: p.SSO.Scopes}
}

// ssoSource starts from the credentials of the plan's SSO profile's role,
// which the SSO portal gives for the session's token. One sign-in serves
// every profile of its session; the cache keeps and refreshes the
// credentials as it does a role's.
type ssoSource struct{ b *Broker }

var _ Source = ssoSource{}

func (s ssoSource) Credentials(ctx context.Context, p profile.Plan) (aws.Credentials, error) {
	if s.b.cfg.SSO == nil {
		return aws.Credentials{}, fault.New(fault.Unsupported, "profile %q uses IAM Identity Center, which this brokerd was started without", p.Name)
	}
	src := p.Source
	c, err := s.b.cfg.SSO.RoleCredentials(ctx, SSOSession(p), src.SSOAccountID, src.SSORoleName)
	if err != nil {
		return aws.Credentials{}, classifySSO(p, err)
	}
	return c, nil
}

// classifySSO turns a failure to get SSO role credentials for plan p into
// a *fault.Error that says what to do. Its messages name the session,
// account and role, never a token.
func classifySSO(p profile.Plan, err error) *fault.Error {
	login, src := p.LoginName(), p.Source
	e := &fault.Error{Kind: fault.Internal, Err: err,
		Message: fmt.Sprintf("profile %q: IAM Identity Center failed: %v", p.Name, err)}
	var api smithy.APIError
	var netErr net.Error
	var notFound *ssotypes.ResourceNotFoundException
	var tooMany *ssotypes.TooManyRequestsException
	switch {
	case errors.Is(err, sso.ErrLoginRequired):
		e.Kind = fault.LoginRequired
		e.Message = fmt.Sprintf("profile %q needs a sign-in to IAM Identity Center (%v): run: brokerd login %s", p.Name, err, login)
	case errors.Is(err, keychain.ErrLocked), errors.Is(err, keychain.ErrUnavailable), errors.Is(err, keychain.ErrTimeout):
		return classify(p.Name, err)
	case errors.As(err, &api) && api.ErrorCode() == "ForbiddenException", errors.As(err, &notFound):
		e.Kind, e.Code = fault.Refused, apiCode(err)
		e.Message = fmt.Sprintf("profile %q: IAM Identity Center gives you no role %s in account %s (%v): check sso_account_id and sso_role_name of [profile %s], or ask for access",
			p.Name, src.SSORoleName, src.SSOAccountID, err, src.Name)
	case errors.As(err, &tooMany):
		e.Kind, e.Code = fault.Throttled, "Throttling"
	case errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer, errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Code = fault.STSUnavailable, "SSOUnavailable"
		e.Message = fmt.Sprintf("cannot get credentials for profile %q from IAM Identity Center in %s (%v): check the network; brokerd retries", p.Name, p.SSO.Region, err)
	case errors.Is(err, context.Canceled):
		e.Kind = fault.Cancelled
	}
	return e
}

// apiCode is the error code of the service's answer in err, "" when none.
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
