package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/wakepool"
)

// record is what the Store keeps for a session, named as in the SDKs'
// token cache (~/.aws/sso/cache).
type record struct {
	StartURL              string    `json:"startUrl"`
	Region                string    `json:"region"`
	AccessToken           string    `json:"accessToken"`
	ExpiresAt             time.Time `json:"expiresAt"`
	RefreshToken          string    `json:"refreshToken,omitempty"`
	ClientID              string    `json:"clientId"`
	ClientSecret          string    `json:"clientSecret"`
	RegistrationExpiresAt time.Time `json:"registrationExpiresAt"` // zero: unknown
}

func (r record) token() Token {
	return Token{AccessToken: r.AccessToken, Expires: r.ExpiresAt, Refreshable: r.RefreshToken != ""}
}

// load returns the record of s, or an error wrapping ErrLoginRequired when
// there is none for its start URL and region.
func (c *Client) load(ctx context.Context, s Session) (record, error) {
	c.unsavedMu.Lock()
	r, ok := c.unsaved[s.Key()]
	c.unsavedMu.Unlock()
	if ok && r.StartURL == s.StartURL && r.Region == s.Region {
		return r, nil
	}
	blob, err := c.store.Get(ctx, s.Key())
	if err != nil {
		return record{}, fmt.Errorf("read the token of sso session %q: %w", s.Key(), err)
	}
	r = record{}
	switch {
	case blob == nil:
		return record{}, fmt.Errorf("sso session %q: nobody signed in: %w", s.Key(), ErrLoginRequired)
	case json.Unmarshal(blob, &r) != nil:
		// The blob holds secrets: do not quote it.
		return record{}, fmt.Errorf("sso session %q: the stored token is not brokerd's format: %w", s.Key(), ErrLoginRequired)
	case r.StartURL != s.StartURL || r.Region != s.Region:
		return record{}, fmt.Errorf("sso session %q: signed in to %s in %s, not its start URL and region: %w",
			s.Key(), r.StartURL, r.Region, ErrLoginRequired)
	}
	return r, nil
}

func (c *Client) save(ctx context.Context, s Session, r record) error {
	blob, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.store.Set(ctx, s.Key(), blob); err != nil {
		return fmt.Errorf("store the token of sso session %q: %w", s.Key(), err)
	}
	c.setUnsaved(s.Key(), nil)
	return nil
}

// setUnsaved keeps r as the record of key that the Store refused; nil
// drops it.
func (c *Client) setUnsaved(key string, r *record) {
	c.unsavedMu.Lock()
	defer c.unsavedMu.Unlock()
	if r == nil {
		delete(c.unsaved, key)
	} else {
		c.unsaved[key] = *r
	}
}

// fresh tells whether r's access token is valid for longer than the
// refresh margin.
func (c *Client) fresh(r record) bool {
	return r.AccessToken != "" && c.clock.Until(r.ExpiresAt) > c.cfg.RefreshBefore
}

// Token returns a valid access token of s, refreshed with the stored
// refresh token when fewer than Config.RefreshBefore remain. It returns an
// error wrapping ErrLoginRequired when there is no token, or it expired and
// cannot be refreshed: no refresh token, the client registration expired,
// or the service refused the refresh.
func (c *Client) Token(ctx context.Context, s Session) (Token, error) {
	if err := s.validate(); err != nil {
		return Token{}, err
	}
	r, err := c.load(ctx, s)
	if errors.Is(err, ErrLoginRequired) {
		// Read while a refresh wrote it (in parts, in the macOS
		// Keychain), a record may read as none, or damaged: read it again
		// once no write is under way.
		return c.refresh(ctx, s, "")
	}
	if err != nil {
		return Token{}, err
	}
	if c.fresh(r) {
		return r.token(), nil
	}
	return c.refresh(ctx, s, "")
}

// refresh returns a valid access token of s other than rejected (the one
// the portal refused, if any), refreshing it once for all its concurrent
// callers, each of whom waits no longer than its ctx.
func (c *Client) refresh(ctx context.Context, s Session, rejected string) (Token, error) {
	key := s.Key()
	if rejected != "" {
		key += "\x00rejected"
	}
	done := c.flights.DoChan(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.refreshMu.Lock()
		defer c.refreshMu.Unlock()
		return c.refreshLocked(ctx, s, rejected)
	})
	select {
	case <-ctx.Done():
		return Token{}, fmt.Errorf("refresh the token of sso session %q: %w", s.Key(), ctx.Err())
	case res := <-done:
		if res.Err != nil {
			return Token{}, res.Err
		}
		return res.Val.(Token), nil
	}
}

func (c *Client) refreshLocked(ctx context.Context, s Session, rejected string) (Token, error) {
	r, err := c.load(ctx, s)
	if err != nil {
		return Token{}, err
	}
	if r.AccessToken != rejected && c.fresh(r) {
		return r.token(), nil // another caller refreshed it
	}
	now := c.clock.Now()
	usable := r.AccessToken != "" && r.AccessToken != rejected && now.Before(r.ExpiresAt)
	if why := r.unrefreshable(now); why != "" {
		if usable {
			return r.token(), nil
		}
		state := "expired"
		switch {
		case rejected != "" && r.AccessToken == rejected:
			// Signed out: status must not show it signed in until the
			// refused token expires.
			state = "was refused by the portal"
			r.AccessToken, r.ExpiresAt = "", time.Time{}
			if err := c.save(ctx, s, r); err != nil {
				return Token{}, err
			}
		case r.AccessToken == "":
			state = "was refused by the portal" // and removed, above
		}
		return Token{}, fmt.Errorf("sso session %q: the token %s and %s: %w", s.Key(), state, why, ErrLoginRequired)
	}

	svc, err := c.services(ctx, s.Region)
	if err != nil {
		return Token{}, err
	}
	if err := r.refresh(ctx, svc, now); err != nil {
		refused := refusedRefresh(err)
		if refused {
			// Do not try the spent refresh token again, nor keep an
			// access token the portal refused: the session is signed out.
			r.RefreshToken = ""
			if r.AccessToken == rejected {
				r.AccessToken, r.ExpiresAt = "", time.Time{}
			}
			if serr := c.save(ctx, s, r); serr != nil {
				c.setUnsaved(s.Key(), &r)
				return Token{}, serr
			}
		}
		if usable {
			c.log.Warn("sso token refresh failed; the current token is still valid",
				zap.String("session", s.Key()), zap.Time("expires", r.ExpiresAt), zap.Error(err))
			return r.token(), nil
		}
		if refused {
			return Token{}, fmt.Errorf("refresh the token of sso session %q: %w: %w", s.Key(), ErrLoginRequired, err)
		}
		return Token{}, fmt.Errorf("refresh the token of sso session %q: %w", s.Key(), err)
	}
	if err := c.save(ctx, s, r); err != nil {
		// The refresh token just used is spent: dropping what replaced
		// it would sign the session out.
		c.setUnsaved(s.Key(), &r)
		c.log.Warn("sso token refreshed, but not stored; kept in memory until the next refresh stores it",
			zap.String("session", s.Key()), zap.Time("expires", r.ExpiresAt), zap.Error(err))
		return r.token(), nil
	}
	c.log.Info("sso token refreshed", zap.String("session", s.Key()), zap.Time("expires", r.ExpiresAt))
	return r.token(), nil
}

// unrefreshable says why r's tokens cannot be refreshed at now, or "".
func (r record) unrefreshable(now time.Time) string {
	switch {
	case r.RefreshToken == "":
		return "it has no refresh token"
	case !r.RegistrationExpiresAt.IsZero() && !now.Before(r.RegistrationExpiresAt):
		return "its client registration expired"
	}
	return ""
}

// refresh has the service refresh r's tokens with its refresh token, at
// now.
func (r *record) refresh(ctx context.Context, svc *services, now time.Time) error {
	// Sent once: the refresh token may be rotated.
	out, err := svc.oidc.CreateToken(wakepool.OnceOnly(ctx), &ssooidc.CreateTokenInput{
		ClientId:     aws.String(r.ClientID),
		ClientSecret: aws.String(r.ClientSecret),
		GrantType:    aws.String("refresh_token"),
		RefreshToken: aws.String(r.RefreshToken),
	}, sendOnce)
	if err != nil {
		return err
	}
	return r.update(out, now)
}

// update sets r's tokens to those of a CreateToken answer received at now.
func (r *record) update(out *ssooidc.CreateTokenOutput, now time.Time) error {
	if aws.ToString(out.AccessToken) == "" || out.ExpiresIn <= 0 {
		return errors.New("CreateToken answered without an access token and its lifetime")
	}
	r.AccessToken = *out.AccessToken
	r.ExpiresAt = now.Add(time.Duration(out.ExpiresIn) * time.Second)
	if out.RefreshToken != nil {
		r.RefreshToken = *out.RefreshToken
	}
	return nil
}

// refusedRefresh tells whether err is the service refusing a refresh for
// good, rather than failing for now.
func refusedRefresh(err error) bool {
	var (
		grant  *types.InvalidGrantException
		client *types.InvalidClientException
		unauth *types.UnauthorizedClientException
		exp    *types.ExpiredTokenException
		denied *types.AccessDeniedException
	)
	return errors.As(err, &grant) || errors.As(err, &client) || errors.As(err, &unauth) ||
		errors.As(err, &exp) || errors.As(err, &denied)
}

// sendOnce makes a call that spends a one-time value (a device code, a
// refresh token the service may rotate) one attempt: the SDK's retryer
// would send it again after a reset or a 5xx, though the service may have
// taken it. With wakepool.OnceOnly, which keeps the pool from giving up on
// its slow answer.
func sendOnce(o *ssooidc.Options) { o.RetryMaxAttempts = 1 }
