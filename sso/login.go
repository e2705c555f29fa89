package sso

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/wakepool"
)

// slowDown is what a SlowDownException adds to the poll interval (RFC 8628).
const slowDown = 5 * time.Second

// Login is a device authorization under way. The person opens
// VerificationURIComplete (or VerificationURI, and types UserCode) and
// approves the request, while Wait polls for the token. Its String method
// shows neither the device code nor the client secret.
type Login struct {
	Session                 Session
	VerificationURI         string
	VerificationURIComplete string
	UserCode                string
	Expires                 time.Time // when the code stops working

	c          *Client
	deviceCode string
	interval   time.Duration
	reg        record // the client registration, without tokens
}

func (l *Login) String() string {
	return fmt.Sprintf("sso login of session %q: open %s and enter %s before %s",
		l.Session.Key(), l.VerificationURI, l.UserCode, l.Expires.UTC().Format(time.RFC3339))
}

// StartLogin registers a client and starts a device authorization for s.
// Show the person the returned Login's URI and code, then call its Wait.
func (c *Client) StartLogin(ctx context.Context, s Session) (*Login, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	svc, err := c.services(ctx, s.Region)
	if err != nil {
		return nil, err
	}
	reg, err := svc.oidc.RegisterClient(ctx, &ssooidc.RegisterClientInput{
		ClientName: aws.String("brokerd"),
		ClientType: aws.String("public"),
		Scopes:     s.scopes(),
	})
	if err != nil {
		return nil, fmt.Errorf("register a client for sso session %q: %w", s.Key(), err)
	}
	dev, err := svc.oidc.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{
		ClientId:     reg.ClientId,
		ClientSecret: reg.ClientSecret,
		StartUrl:     aws.String(s.StartURL),
	})
	if err != nil {
		return nil, fmt.Errorf("start the sign-in of sso session %q: %w", s.Key(), err)
	}
	now := c.clock.Now()
	l := &Login{
		Session:                 s,
		VerificationURI:         aws.ToString(dev.VerificationUri),
		VerificationURIComplete: aws.ToString(dev.VerificationUriComplete),
		UserCode:                aws.ToString(dev.UserCode),
		Expires:                 now.Add(time.Duration(dev.ExpiresIn) * time.Second),
		c:                       c,
		deviceCode:              aws.ToString(dev.DeviceCode),
		interval:                time.Duration(dev.Interval) * time.Second,
		reg: record{
			StartURL:     s.StartURL,
			Region:       s.Region,
			ClientID:     aws.ToString(reg.ClientId),
			ClientSecret: aws.ToString(reg.ClientSecret),
		},
	}
	if reg.ClientSecretExpiresAt != 0 {
		l.reg.RegistrationExpiresAt = time.Unix(reg.ClientSecretExpiresAt, 0)
	}
	if l.interval <= 0 {
		l.interval = 5 * time.Second // RFC 8628's default
	}
	c.log.Info("sso sign-in started", zap.String("session", s.Key()), zap.Time("expires", l.Expires))
	return l, nil
}

// Wait polls for the token at the interval the service asked for, until
// the person approves the request, and stores the token. A poll that
// fails for now (the network, or the service's 5xx) is tried again at the
// next interval. It returns an error wrapping ErrCodeExpired when the code
// expires first (or the last poll's error, when that poll failed),
// ErrDenied when the person refuses, or ctx's error when ctx ends. Call it
// once.
func (l *Login) Wait(ctx context.Context) error {
	c, s := l.c, l.Session
	svc, err := c.services(ctx, s.Region)
	if err != nil {
		return err
	}
	interval := l.interval
	var failed error // the last poll's, when it failed for now
	for {
		t := c.clock.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the sign-in of sso session %q: %w", s.Key(), ctx.Err())
		case <-t.Chan():
		}
		now := c.clock.Now()
		if !now.Before(l.Expires) {
			if failed != nil {
				return fmt.Errorf("wait for the sign-in of sso session %q: %w", s.Key(), failed)
			}
			return fmt.Errorf("sso session %q: %w", s.Key(), ErrCodeExpired)
		}
		// Sent once: the approved code works once. This loop polls again
		// after a failure for now.
		out, err := svc.oidc.CreateToken(wakepool.OnceOnly(ctx), &ssooidc.CreateTokenInput{
			ClientId:     aws.String(l.reg.ClientID),
			ClientSecret: aws.String(l.reg.ClientSecret),
			GrantType:    aws.String("urn:ietf:params:oauth:grant-type:device_code"),
			DeviceCode:   aws.String(l.deviceCode),
		}, sendOnce)
		var (
			pending *types.AuthorizationPendingException
			slow    *types.SlowDownException
			expired *types.ExpiredTokenException
			denied  *types.AccessDeniedException
		)
		streak := failed != nil
		failed = nil
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("wait for the sign-in of sso session %q: %w", s.Key(), ctx.Err())
		case errors.As(err, &pending):
			continue
		case errors.As(err, &slow):
			interval += slowDown
			continue
		case errors.As(err, &expired):
			return fmt.Errorf("sso session %q: %w", s.Key(), ErrCodeExpired)
		case errors.As(err, &denied):
			return fmt.Errorf("sso session %q: %w", s.Key(), ErrDenied)
		case retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary:
			// The network or the service failed for now (the SDK's own
			// retries spent): the person may be approving the code, so
			// poll on until it expires.
			failed = err
			if !streak { // once per outage, not at each poll
				c.log.Warn("sso sign-in poll failed; polling on", zap.String("session", s.Key()), zap.Error(err))
			}
			continue
		case err != nil:
			return fmt.Errorf("wait for the sign-in of sso session %q: %w", s.Key(), err)
		}
		r := l.reg
		if err := r.update(out, now); err != nil {
			return fmt.Errorf("sign in to sso session %q: %w", s.Key(), err)
		}
		unlock := c.lock(s.Key())
		err = c.save(ctx, s.Key(), r)
		unlock()
		if err != nil {
			return err
		}
		c.log.Info("sso signed in", zap.String("session", s.Key()), zap.Time("expires", r.ExpiresAt),
			zap.Bool("refreshable", r.RefreshToken != ""))
		return nil
	}
}
