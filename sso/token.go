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
// there is none for its start URL and region. A record held only in memory
// comes before the Store's.
func (c *Client) load(ctx context.Context, s Session) (record, error) {
	c.unsavedMu.Lock()
	u, ok := c.unsaved[s.Key()]
	c.unsavedMu.Unlock()
	if ok && u.r.StartURL == s.StartURL && u.r.Region == s.Region {
		return u.r, nil
	}
	blob, err := c.store.Get(ctx, s.Key())
	if err != nil {
		return record{}, fmt.Errorf("read the token of sso session %q: %w", s.Key(), err)
	}
	if blob != nil {
		// The Store gave an item: a keychain that was locked may take
		// what it refused.
		c.storeAllLater(storeAfterAccess)
	}
	r := record{}
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

// save stores r as the record of the session key, and drops the one held
// in memory; the caller holds the session's lock.
func (c *Client) save(ctx context.Context, key string, r record) error {
	blob, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.store.Set(ctx, key, blob); err != nil {
		return fmt.Errorf("store the token of sso session %q: %w", key, err)
	}
	c.setUnsaved(key, nil)
	c.storeAllLater(storeAfterAccess) // the Store takes records again
	return nil
}

// setUnsaved keeps r as the record of key that the Store refused just
// now; nil drops it.
func (c *Client) setUnsaved(key string, r *record) {
	c.unsavedMu.Lock()
	defer c.unsavedMu.Unlock()
	if r == nil {
		delete(c.unsaved, key)
	} else {
		c.unsaved[key] = unsaved{r: *r, tried: c.clock.Now()}
	}
}

const (
	// refreshWait bounds a refresh, and a store of a record held in
	// memory, that callers no longer wait for.
	refreshWait = 30 * time.Second
	// storeRetry is how often Token offers a record held in memory to
	// the Store again: a locked macOS keychain may show its unlock
	// prompt at each offer.
	storeRetry = time.Minute
	// storeAfterAccess is how soon after the last offer a record held in
	// memory is offered again once the Store has given or taken another
	// item, which a locked keychain does not.
	storeAfterAccess = 5 * time.Second
)

// storeLater offers the record of key held in memory, if any, to the Store
// again in the background, unless it was offered less than gap ago or an
// offer is under way. Nobody waits for it: a request never waits on the
// keychain, nor on a person at its unlock prompt, for a record it has.
func (c *Client) storeLater(key string, gap time.Duration) {
	now := c.clock.Now()
	c.unsavedMu.Lock()
	u, ok := c.unsaved[key]
	due := ok && !c.stopped && !c.storing[key] && now.Sub(u.tried) >= gap
	if due {
		u.tried = now
		c.unsaved[key] = u
		c.storing[key] = true
		c.wg.Add(1) // under unsavedMu: never once StoreUnsaved's Wait began
	}
	c.unsavedMu.Unlock()
	if !due {
		return
	}
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.bg, refreshWait)
		defer cancel()
		c.storeHeld(ctx, key)
		c.unsavedMu.Lock()
		delete(c.storing, key)
		c.unsavedMu.Unlock()
	}()
}

// storeAllLater is storeLater for every record held in memory.
func (c *Client) storeAllLater(gap time.Duration) {
	c.unsavedMu.Lock()
	keys := make([]string, 0, len(c.unsaved))
	for k := range c.unsaved {
		keys = append(keys, k)
	}
	c.unsavedMu.Unlock()
	for _, k := range keys {
		c.storeLater(k, gap)
	}
}

// storeHeld stores the record of key held in memory, if it still is.
func (c *Client) storeHeld(ctx context.Context, key string) error {
	unlock, err := c.lockCtx(ctx, key)
	if err != nil {
		return fmt.Errorf("store the token of sso session %q: %w", key, err)
	}
	defer unlock()
	c.unsavedMu.Lock()
	u, ok := c.unsaved[key]
	c.unsavedMu.Unlock()
	if !ok {
		return nil // stored, replaced or signed out meanwhile
	}
	if err := c.save(ctx, key, u.r); err != nil {
		c.log.Debug("sso token still held only in memory: the keychain did not take it",
			zap.String("session", key), zap.Error(err))
		return err
	}
	c.log.Info("sso token stored; it was held only in memory", zap.String("session", key), zap.Time("expires", u.r.ExpiresAt))
	return nil
}

// StoreUnsaved stores every session's token held only in memory (refreshed
// while the Store refused it), waiting for the Store up to ctx: for a
// daemon that stops, whose next start would otherwise need new sign-ins.
// It first ends the stores under way in the background, and no other
// starts after it; it waits, up to ctx, for the refreshes under way,
// whose tokens the Store may refuse too. Its errors hold no token.
func (c *Client) StoreUnsaved(ctx context.Context) error {
	c.unsavedMu.Lock()
	c.stopped = true
	c.unsavedMu.Unlock()
	c.stopBg()
	c.wg.Wait()
	// Every session used, not only those held in memory now: a refresh
	// under way, which holds its session's lock, may yet be refused.
	c.locksMu.Lock()
	keys := make([]string, 0, len(c.locks))
	for k := range c.locks {
		keys = append(keys, k)
	}
	c.locksMu.Unlock()
	var errs []error
	for _, k := range keys {
		errs = append(errs, c.storeHeld(ctx, k))
	}
	return errors.Join(errs...)
}

// Wait waits for the stores of tokens held in memory that Token started
// in the background, each of which ends within 30 s, or at once after
// StoreUnsaved.
func (c *Client) Wait() { c.wg.Wait() }

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
//
// A token held only in memory (Token.InMemoryOnly) is offered to the Store
// again in the background, at most once a minute, or 5 s after the Store
// gave or took another session's.
func (c *Client) Token(ctx context.Context, s Session) (Token, error) {
	if err := s.validate(); err != nil {
		return Token{}, err
	}
	tok, err := c.token(ctx, s)
	if err != nil {
		return Token{}, err
	}
	c.unsavedMu.Lock()
	u, held := c.unsaved[s.Key()]
	c.unsavedMu.Unlock()
	if held {
		tok.InMemoryOnly = u.r.AccessToken == tok.AccessToken
		c.storeLater(s.Key(), storeRetry)
	}
	return tok, nil
}

func (c *Client) token(ctx context.Context, s Session) (Token, error) {
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
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshWait)
		defer cancel()
		defer c.lock(s.Key())()
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
			if err := c.save(ctx, s.Key(), r); err != nil {
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
			if serr := c.save(ctx, s.Key(), r); serr != nil {
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
	if err := c.save(ctx, s.Key(), r); err != nil {
		// The refresh token just used is spent: dropping what replaced
		// it would sign the session out.
		c.setUnsaved(s.Key(), &r)
		c.log.Warn("sso token refreshed, but the keychain did not take it: the session is held only in memory, "+
			"and a restart before it is stored needs a new sign-in; it is offered to the keychain again at each use, at most once a minute",
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
