package control

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// ContainerToken describes a container token, without its secret.
type ContainerToken struct {
	ID       string     `json:"id"`
	Label    string     `json:"label"`
	Profiles []string   `json:"profiles"`
	Created  time.Time  `json:"created"`
	Expires  time.Time  `json:"expires"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	// ContainerID is the container given the token, once docker has named
	// it; "" for a token made for no container in particular.
	ContainerID string `json:"container_id,omitempty"`
}

// TokenRequest asks the daemon for a container token.
type TokenRequest struct {
	Label    string   `json:"label"`
	Profiles []string `json:"profiles"`
	// TTLSeconds is the token's lifetime; 0 means the default (12h).
	TTLSeconds int `json:"ttl_seconds"`
	// CIDFile asks for the path of a file for docker run --cidfile beside
	// the token file: the container's id then names it in the audit log.
	CIDFile bool `json:"cidfile"`
	// ReaderUID is the uid of the container's process when it is neither
	// root nor the daemon's user, so that the token file is made readable
	// to it; -1 when it is another user whose uid is not known.
	ReaderUID int `json:"reader_uid,omitempty"`
}

// IssuedToken is a new container token. Its secret is in TokenFile, and
// nowhere else.
type IssuedToken struct {
	ContainerToken
	TokenFile string `json:"token_file"`
	CIDFile   string `json:"cidfile,omitempty"`
	// Region is the region of the first profile, "" when it sets none.
	Region string `json:"region,omitempty"`
	// Note says how the token file was made readable, when not 0600.
	Note string `json:"note,omitempty"`
}

// RevokeRequest revokes the live tokens whose id or label is Match, or
// with All every live token.
type RevokeRequest struct {
	Match string `json:"match"`
	All   bool   `json:"all"`
}

// Containers is what the daemon does for Docker containers. The handler
// serves its routes when the Service implements it, and answers 404 (a
// daemon older than the CLI) otherwise.
type Containers interface {
	// IssueToken makes a container token and its token file.
	IssueToken(ctx context.Context, r TokenRequest) (IssuedToken, error)
	// RevokeTokens revokes tokens and returns them; kind NotFound when
	// Match names no live token.
	RevokeTokens(ctx context.Context, r RevokeRequest) ([]ContainerToken, error)
}

// containerRoutes adds the routes of Containers, if svc implements it.
func (h handler) containerRoutes(r chi.Router) {
	cs, ok := h.svc.(Containers)
	if !ok {
		return
	}
	r.Post("/v1/docker/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if h.decode(w, r, &req) {
			res, err := cs.IssueToken(r.Context(), req)
			h.reply(w, r, res, err)
		}
	})
	r.Post("/v1/docker/revoke", func(w http.ResponseWriter, r *http.Request) {
		var req RevokeRequest
		if h.decode(w, r, &req) {
			res, err := cs.RevokeTokens(r.Context(), req)
			h.reply(w, r, revoked{res}, err)
		}
	})
}

// ReissueRequest asks the daemon for a new token for a container whose
// token file is gone (see Reissuer), written where the container's mount
// names it.
type ReissueRequest struct {
	// TokenFile is the source of the container's token file mount: it must
	// be a token file of the daemon's state directory,
	// STATE/containers/ID/token, ID naming the token to reissue.
	TokenFile string `json:"token_file"`
	// ContainerID is the container's id, 64 hex digits, which names it in
	// status and the audit log.
	ContainerID string   `json:"container_id"`
	Label       string   `json:"label"`
	Profiles    []string `json:"profiles"`
	// TTLSeconds is the token's lifetime; 0 means the default (12h).
	TTLSeconds int `json:"ttl_seconds"`
	// ReaderUID is as in TokenRequest.
	ReaderUID int `json:"reader_uid,omitempty"`
}

// Reissuer gives a container whose token file was lost (a reboot or a
// logout emptied the state directory) a new token in place, so that it
// starts again as it is. The handler serves its route when the Service
// implements it, and answers 404 (a daemon older than the CLI) otherwise.
type Reissuer interface {
	// ReissueToken makes the token and writes its file at r.TokenFile:
	// kind InvalidInput when that is not a token file of the state
	// directory, or a file is there already.
	ReissueToken(ctx context.Context, r ReissueRequest) (IssuedToken, error)
}

// reissueRoute adds the route of Reissuer, if svc implements it.
func (h handler) reissueRoute(r chi.Router) {
	rs, ok := h.svc.(Reissuer)
	if !ok {
		return
	}
	r.Post("/v1/docker/reissue", func(w http.ResponseWriter, r *http.Request) {
		var req ReissueRequest
		if h.decode(w, r, &req) {
			res, err := rs.ReissueToken(r.Context(), req)
			h.reply(w, r, res, err)
		}
	})
}

// ReissueToken asks the daemon for a new token for a container whose token
// file is gone.
func (c *Client) ReissueToken(ctx context.Context, req ReissueRequest) (IssuedToken, error) {
	var res IssuedToken
	return res, c.call(ctx, http.MethodPost, "/v1/docker/reissue", req, &res)
}

type revoked struct {
	Tokens []ContainerToken `json:"tokens"`
}

// IssueToken asks the daemon for a container token.
func (c *Client) IssueToken(ctx context.Context, req TokenRequest) (IssuedToken, error) {
	var res IssuedToken
	return res, c.call(ctx, http.MethodPost, "/v1/docker/tokens", req, &res)
}

// RevokeTokens asks the daemon to revoke container tokens; it returns those
// revoked.
func (c *Client) RevokeTokens(ctx context.Context, req RevokeRequest) ([]ContainerToken, error) {
	var res revoked
	err := c.call(ctx, http.MethodPost, "/v1/docker/revoke", req, &res)
	return res.Tokens, err
}
