package sso

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ssoportal "github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/sso/types"
)

// RoleCredentials returns credentials of roleName in accountID from the
// portal, signed in as s. When the portal refuses the access token it is
// refreshed once; it returns an error wrapping ErrLoginRequired when s has
// no usable token, or the portal refuses the refreshed one.
func (c *Client) RoleCredentials(ctx context.Context, s Session, accountID, roleName string) (aws.Credentials, error) {
	if accountID == "" || roleName == "" {
		return aws.Credentials{}, fmt.Errorf("sso session %q: an account id and a role name are required", s.Key())
	}
	tok, err := c.Token(ctx, s)
	if err != nil {
		return aws.Credentials{}, err
	}
	creds, err := c.roleCredentials(ctx, s, tok, accountID, roleName)
	var unauth *types.UnauthorizedException
	if errors.As(err, &unauth) {
		// Revoked, or signed out elsewhere: a refreshed token may do.
		if tok, err = c.refresh(ctx, s, tok.AccessToken); err != nil {
			return aws.Credentials{}, err
		}
		creds, err = c.roleCredentials(ctx, s, tok, accountID, roleName)
		if errors.As(err, &unauth) {
			err = fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
	}
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("get credentials of role %s in account %s from sso session %q: %w",
			roleName, accountID, s.Key(), err)
	}
	return creds, nil
}

func (c *Client) roleCredentials(ctx context.Context, s Session, tok Token, accountID, roleName string) (aws.Credentials, error) {
	svc, err := c.services(ctx, s.Region)
	if err != nil {
		return aws.Credentials{}, err
	}
	out, err := svc.portal.GetRoleCredentials(ctx, &ssoportal.GetRoleCredentialsInput{
		AccessToken: aws.String(tok.AccessToken),
		AccountId:   aws.String(accountID),
		RoleName:    aws.String(roleName),
	})
	if err != nil {
		return aws.Credentials{}, err
	}
	rc := out.RoleCredentials
	if rc == nil || aws.ToString(rc.AccessKeyId) == "" || aws.ToString(rc.SecretAccessKey) == "" {
		return aws.Credentials{}, errors.New("GetRoleCredentials answered without credentials")
	}
	return aws.Credentials{
		AccessKeyID:     aws.ToString(rc.AccessKeyId),
		SecretAccessKey: aws.ToString(rc.SecretAccessKey),
		SessionToken:    aws.ToString(rc.SessionToken),
		CanExpire:       true,
		Expires:         time.UnixMilli(rc.Expiration),
		Source:          "brokerd SSO",
		AccountID:       accountID,
	}, nil
}

// Forget removes the tokens stored under key, if any, without asking the
// portal: those of a session the config file no longer names (renamed or
// removed), whose region is not known any more. It reports whether there
// were any.
func (c *Client) Forget(ctx context.Context, key string) (bool, error) {
	defer c.lock(key)()
	c.setUnsaved(key, nil)
	blob, err := c.store.Get(ctx, key)
	if err != nil || blob == nil {
		return false, err
	}
	if err := c.store.Delete(ctx, key); err != nil {
		return false, fmt.Errorf("remove the token of sso session %q: %w", key, err)
	}
	return true, nil
}

// Logout removes the tokens of s from the Store, then asks the portal to
// end the sign-in so that the tokens stop working everywhere. When the
// portal cannot be asked, the error, returned after the tokens are
// removed, wraps ErrStillSignedInAtPortal.
func (c *Client) Logout(ctx context.Context, s Session) error {
	unlock := c.lock(s.Key())
	r, loadErr := c.load(ctx, s)
	c.setUnsaved(s.Key(), nil)
	err := c.store.Delete(ctx, s.Key())
	unlock()
	if err != nil {
		return fmt.Errorf("remove the token of sso session %q: %w", s.Key(), err)
	}
	if loadErr != nil {
		return nil // no token the portal would accept
	}
	svc, err := c.services(ctx, s.Region)
	if now := c.clock.Now(); err == nil && (r.AccessToken == "" || !now.Before(r.ExpiresAt)) {
		// Expired: the sign-in lasts at the portal while the refresh
		// token works, so get a token to end it with.
		if r.unrefreshable(now) != "" {
			return nil // no token the portal would accept
		}
		if err = r.refresh(ctx, svc, now); refusedRefresh(err) {
			return nil // the sign-in has ended already
		}
	}
	if err == nil {
		_, err = svc.portal.Logout(ctx, &ssoportal.LogoutInput{AccessToken: aws.String(r.AccessToken)})
	}
	var unauth *types.UnauthorizedException
	if err != nil && !errors.As(err, &unauth) { // refused: signed out already
		// The tokens are gone: trying again cannot tell the portal.
		return fmt.Errorf("sso session %q: %w: %w", s.Key(), ErrStillSignedInAtPortal, err)
	}
	return nil
}
