package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/tokens"
	"github.com/brokerd/brokerd/wire"
)

// RelayConfig configures the endpoint as containers reach it: through
// brokerd's relay, on the relay socket.
type RelayConfig struct {
	// Tokens holds the container tokens; every request must carry one,
	// and may fetch the profiles its token names only.
	Tokens *tokens.Store
	// Hosts are the Host header values accepted; nil means the relay's
	// address, with and without :80.
	Hosts []string
	// MainToken is the endpoint's own token, which is refused here with an
	// answer that says so.
	MainToken string
	// Log receives sampled lines of issued credentials and of refused
	// requests; nil logs nothing.
	Log *zap.Logger
	// Clock arms the log samplers' timers; nil means the real clock.
	Clock clockwork.Clock
	// Audit writes every answer to the audit log; nil writes none.
	Audit *Audit
	// ClientHeader believes the relay's header that names the container's
	// address: true on the relay socket, which only the relay reaches;
	// false on loopback, where any local process could send it.
	ClientHeader bool
}

type relay struct {
	creds           Credentials
	cfg             RelayConfig
	log             *zap.Logger
	issued, refused sampler
}

// NewRelay returns the endpoint's handler for requests that brokerd's
// relay forwards from containers: GET on the credentials paths, with a
// container token, for the profiles the token names. The relay tells in a
// header which address the request came from; that header is believed here
// because only the relay can reach this handler's socket.
func NewRelay(creds Credentials, cfg RelayConfig) http.Handler {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Hosts == nil {
		cfg.Hosts = []string{wire.RelayAddr, wire.RelayAddr + ":80"}
	}
	h := &relay{creds: creds, cfg: cfg, log: log,
		issued:  sampler{first: 10, window: time.Second, clock: cfg.Clock},
		refused: sampler{first: refusedPerSecond, window: time.Second, clock: cfg.Clock}}
	return httperr.Recover(log, h)
}

// relayRequest is what the handler has learnt of a request so far.
type relayRequest struct {
	who     RelayClient
	name    string
	tokenOK bool // the container token was checked
}

func (h *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := relayRequest{}
	if h.cfg.ClientHeader {
		q.who.IP = relayClientIP(r)
	}
	if err := httperr.WithBody(w, r); err != nil {
		h.refuse(w, r, &q, err)
		return
	}
	// The audit keeps the name only once the token is checked: a client
	// without one could fill the log with a new name per request.
	name, isCreds := credentialsPath(r.URL)
	switch {
	case !h.hostAllowed(r.Host):
		h.refuse(w, r, &q, httperr.Errorf(http.StatusForbidden, "InvalidHost", "Host header %q is not the relay's address: use http://%s/v1/credentials/PROFILE", r.Host, wire.RelayAddr))
		return
	case fromBrowser(r.Header):
		h.refuse(w, r, &q, httperr.Errorf(http.StatusForbidden, "BrowserRequest", "requests from web browsers are refused: call the endpoint from an AWS SDK or the aws CLI, not a web page"))
		return
	case !isCreds:
		h.refuse(w, r, &q, httperr.Errorf(http.StatusNotFound, "NotFound", "no such path %q: credentials are at /v1/credentials/PROFILE", r.URL.Path))
		return
	case r.Method != http.MethodGet:
		h.refuse(w, r, &q, httperr.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET"))
		return
	}
	secret := header(r.Header, "Authorization")
	tok, err := h.cfg.Tokens.Check(secret)
	q.who.TokenID, q.who.Label, q.who.ContainerID = tok.ID, tok.Label, tok.ContainerID
	if err != nil {
		w.Header().Set("Connection", "close")
		h.refuse(w, r, &q, h.tokenError(secret, err))
		return
	}
	q.name, q.tokenOK = name, true
	if q.name == "" {
		q.name = tok.Default()
	}
	if err := profile.CheckName(q.name); err != nil {
		h.refuse(w, r, &q, BadName(err))
		return
	}
	if err := tok.Allows(q.name); err != nil {
		h.refuse(w, r, &q, err)
		return
	}
	c, err := h.creds.Get(r.Context(), q.name)
	if errors.Is(err, context.Canceled) {
		err = fault.New(fault.Cancelled, "the request was cancelled while brokerd fetched credentials (brokerd is stopping, or the client left): try again")
	}
	if err != nil {
		h.refuse(w, r, &q, err)
		return
	}
	if h.cfg.Audit != nil {
		h.cfg.Audit.relayed(q.who, sig{kind: audit.Issued, profile: q.name, keyID: c.AccessKeyID, status: http.StatusOK}, &c)
	}
	w.Header()["Content-Type"] = jsonType
	w.Write(c.Body)
	if h.issued.sample() {
		h.log.Info("issued credentials", zap.String("profile", q.name), zap.String("role_arn", c.RoleARN),
			zap.String("key", wire.Mask(c.AccessKeyID)), zap.Time("expires", c.Expires),
			zap.String("token", q.who.TokenID), zap.String("label", q.who.Label),
			zap.String("container", q.who.ContainerID), zap.String("client", q.who.IP))
	}
}

// tokenError is the answer to a request whose token Check refused.
func (h *relay) tokenError(secret string, err error) error {
	switch {
	case errors.Is(err, tokens.ErrMissing):
		return httperr.Errorf(http.StatusUnauthorized, "MissingToken", "%v", err)
	case errors.Is(err, tokens.ErrExpired):
		return httperr.Errorf(http.StatusUnauthorized, "TokenExpired", "%v", err)
	case errors.Is(err, tokens.ErrRevoked):
		return httperr.Errorf(http.StatusForbidden, "TokenRevoked", "%v", err)
	case h.cfg.MainToken != "" && len(secret) == len(h.cfg.MainToken) &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(h.cfg.MainToken)) == 1:
		return httperr.Errorf(http.StatusForbidden, "InvalidToken", "brokerd's own token is refused through the relay: containers need a container token (brokerd docker run PROFILE -- ...)")
	default:
		return httperr.Errorf(http.StatusForbidden, "InvalidToken", "%v", err)
	}
}

// relayHost reports whether host is the relay's address.
func relayHost(host string) bool {
	return host == wire.RelayAddr || host == wire.RelayAddr+":80"
}

func (h *relay) hostAllowed(host string) bool {
	for _, a := range h.cfg.Hosts {
		if host == a {
			return true
		}
	}
	return false
}

// refuse answers with err, audits and logs it (sampled).
func (h *relay) refuse(w http.ResponseWriter, r *http.Request, q *relayRequest, err error) {
	status, code, message := httperr.Answer(err)
	if h.cfg.Audit != nil {
		h.cfg.Audit.relayed(q.who, refusal(q.name, status, code, q.tokenOK), nil)
	}
	httperr.Write(w, err)
	if h.refused.sample() {
		h.log.Info("request refused", zap.String("path", r.URL.Path), zap.String("token", q.who.TokenID),
			zap.String("label", q.who.Label), zap.String("container", q.who.ContainerID), zap.String("client", q.who.IP),
			zap.Int("status", status), zap.String("code", code), zap.String("message", message))
	}
}

// relayClientIP is the container address the relay reported, "" when it
// reported none or not an address.
func relayClientIP(r *http.Request) string {
	v := header(r.Header, http.CanonicalHeaderKey(wire.HeaderRelayClient))
	if ip := net.ParseIP(v); ip != nil {
		return ip.String()
	}
	return ""
}
