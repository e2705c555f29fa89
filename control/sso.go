package control

import (
	"context"
	"net/http"
	"time"
)

// SSOSession is an IAM Identity Center session that the config file names,
// without its tokens.
type SSOSession struct {
	// Name is what `brokerd login` takes: the sso-session's name, or for
	// the legacy form (sso_start_url on a profile) that profile.
	Name     string `json:"name"`
	StartURL string `json:"start_url"`
	Region   string `json:"region"`
	// Profiles get their credentials through the session.
	Profiles []string `json:"profiles,omitempty"`
	SignedIn bool     `json:"signed_in"`
	// Expires is when the access token expires, nil when not signed in.
	// While Refreshable, brokerd refreshes it before then without a
	// person, until the session ends at the identity provider.
	Expires     *time.Time `json:"expires,omitempty"`
	Refreshable bool       `json:"refreshable"`
	// Error says why the token could not be read, such as a locked
	// keychain.
	Error string `json:"error,omitempty"`
}

// SSOLogin is a sign-in to IAM Identity Center under way: the person opens
// VerificationURIComplete (or VerificationURI and types UserCode) and
// approves it before Expires, while the daemon polls for the token.
type SSOLogin struct {
	// ID names the sign-in in SSOWait.
	ID string `json:"id"`
	// Session is the session's Name, as in SSOSession.
	Session                 string    `json:"session"`
	StartURL                string    `json:"start_url"`
	VerificationURI         string    `json:"verification_uri"`
	VerificationURIComplete string    `json:"verification_uri_complete"`
	UserCode                string    `json:"user_code"`
	Expires                 time.Time `json:"expires"`
}

// SSOWait asks how a sign-in ended, waiting for it at most Seconds (at
// most MaxSSOWait).
type SSOWait struct {
	ID      string `json:"id"`
	Seconds int    `json:"seconds"`
}

// MaxSSOWait bounds one SSOWait call, well within the client's timeout;
// the client asks again until the sign-in ends.
const MaxSSOWait = 20 * time.Second

// SSOWaitResult is how a sign-in stands: Done, with the signed-in
// session, or still waiting for the person.
type SSOWaitResult struct {
	Done    bool       `json:"done"`
	Session SSOSession `json:"session"`
}

func (h handler) ssoLogin(w http.ResponseWriter, r *http.Request) {
	var req named
	if h.decode(w, r, &req) {
		l, err := h.svc.SSOLogin(r.Context(), req.Profile)
		h.reply(w, r, l, err)
	}
}

func (h handler) ssoWait(w http.ResponseWriter, r *http.Request) {
	var req SSOWait
	if h.decode(w, r, &req) {
		res, err := h.svc.SSOWait(r.Context(), req)
		h.reply(w, r, res, err)
	}
}

// SSOLogin asks the daemon to start a sign-in to the IAM Identity Center
// session of name: a session, or a profile that uses one; empty means the
// default profile's.
func (c *Client) SSOLogin(ctx context.Context, name string) (SSOLogin, error) {
	var l SSOLogin
	return l, c.call(ctx, http.MethodPost, "/v1/sso/login", named{name}, &l)
}

// SSOWait waits until the sign-in id ends, asking the daemon again every
// MaxSSOWait, and returns the signed-in session; an error when the
// sign-in failed (the code expired, the person refused it) or ctx ended.
func (c *Client) SSOWait(ctx context.Context, id string) (SSOSession, error) {
	for {
		var res SSOWaitResult
		err := c.call(ctx, http.MethodPost, "/v1/sso/wait", SSOWait{ID: id, Seconds: int(MaxSSOWait / time.Second)}, &res)
		switch {
		case err != nil:
			return SSOSession{}, err
		case res.Done:
			return res.Session, nil
		case ctx.Err() != nil:
			return SSOSession{}, ctx.Err()
		}
	}
}
