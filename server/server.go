// Package server provides the container credentials endpoint that AWS SDKs
// and the aws CLI read through AWS_CONTAINER_CREDENTIALS_FULL_URI.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/tokens"
	"github.com/brokerd/brokerd/wire"
)

// Credentials gives credentials for a profile; *cache.Cache implements it.
type Credentials interface {
	Get(ctx context.Context, profile string) (cache.Served, error)
}

var _ Credentials = (*cache.Cache)(nil)

// Config configures the endpoint.
type Config struct {
	// Token is the secret every credentials request must carry in its
	// Authorization header.
	Token string
	// Hosts are the Host header values accepted, such as "127.0.0.1:9911".
	Hosts []string
	// DefaultProfile is served at /v1/credentials.
	DefaultProfile string
	// Log receives sampled lines of issued credentials and of refused
	// requests; nil logs nothing.
	Log *zap.Logger
	// Clock arms the log samplers' timers; nil means the real clock.
	Clock clockwork.Clock
	// Audit writes every answer to the audit log; nil writes none.
	Audit *Audit
	// Relay serves the requests whose Host is the relay's address: those
	// of a relay that reaches this endpoint through loopback (Docker
	// Desktop, via host.docker.internal), with container tokens. nil
	// refuses them, as any foreign Host.
	Relay http.Handler
}

type server struct {
	creds Credentials
	cfg   Config
	token []byte
	log   *zap.Logger
	// issued and refused sample the log lines of served and refused
	// requests.
	issued, refused sampler
	// mux routes what the fast path in ServeHTTP does not take.
	mux http.Handler
}

// New returns the endpoint's handler.
func New(creds Credentials, cfg Config) http.Handler {
	s := newServer(creds, cfg)
	return httperr.Recover(s.log, s)
}

func newServer(creds Credentials, cfg Config) *server {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	// Refusals are what a person looks for when a client fails, so more of
	// them are kept.
	s := &server{creds: creds, cfg: cfg, token: []byte(cfg.Token), log: log,
		issued:  sampler{first: 10, window: time.Second, clock: cfg.Clock},
		refused: sampler{first: refusedPerSecond, window: time.Second, clock: cfg.Clock}}

	// ServeHTTP checks Host and browsers for every path, and takes GET on the
	// credentials paths itself; the router has the same routes for the rest
	// (405 for other methods) and for paths the fast path leaves to it.
	r := chi.NewRouter()
	r.Get("/healthz", s.healthz)
	r.Group(func(r chi.Router) {
		r.Use(s.checkToken)
		r.Get("/v1/credentials", s.routedCredentials)
		r.Get("/v1/credentials/{profile}", s.routedCredentials)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, httperr.Errorf(http.StatusNotFound, "NotFound", "no such path %q: credentials are at /v1/credentials/PROFILE", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, httperr.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET"))
	})
	s.mux = r
	return s
}

// ServeHTTP refuses requests with a body, requests with a foreign Host
// header, which defeats DNS rebinding from web pages, and requests from
// browsers; it serves GET on the credentials paths without the router, the
// path every SDK request takes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := httperr.WithBody(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.hostAllowed(r.Host) {
		if s.cfg.Relay != nil && relayHost(r.Host) {
			s.cfg.Relay.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, httperr.Errorf(http.StatusForbidden, "InvalidHost", "Host header %q is not this endpoint's address: use the URL from `brokerd env`", r.Host))
		return
	}
	if fromBrowser(r.Header) {
		s.writeError(w, r, httperr.Errorf(http.StatusForbidden, "BrowserRequest", "requests from web browsers are refused: call the endpoint from an AWS SDK or the aws CLI, not a web page"))
		return
	}
	if r.Method == http.MethodGet {
		if name, ok := credentialsPath(r.URL); ok {
			if s.authorized(w, r) {
				s.credentials(w, r, name)
			}
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *server) hostAllowed(host string) bool {
	for _, h := range s.cfg.Hosts {
		if host == h {
			return true
		}
	}
	return false
}

// header is h.Get(key) for a key already in canonical form, which it
// spares canonicalising again.
func header(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// fromBrowser reports whether h has headers only browsers send.
func fromBrowser(h http.Header) bool {
	if header(h, "Origin") != "" {
		return true
	}
	for k := range h {
		if strings.HasPrefix(k, "Sec-Fetch-") {
			return true
		}
	}
	return false
}

// credentialsPath returns the profile that a path of the credentials
// routes names, "" for /v1/credentials, as the router would match it (on
// the raw path when there is one). It returns false for any other path and
// for the shapes it leaves to the router.
func credentialsPath(u *url.URL) (name string, ok bool) {
	p := u.RawPath
	if p == "" {
		p = u.Path
	}
	rest, ok := strings.CutPrefix(p, "/v1/credentials")
	if !ok || rest == "" {
		return "", ok
	}
	name, ok = strings.CutPrefix(rest, "/")
	if !ok || name == "" || strings.IndexByte(name, '/') >= 0 {
		return "", false
	}
	if u.RawPath != "" {
		return unescape(name)
	}
	return name, true
}

// unescape decodes a profile name from an escaped path segment, as
// `brokerd env` writes names such as "a,b"; false when it is malformed.
func unescape(segment string) (string, bool) {
	name, err := url.PathUnescape(segment)
	return name, err == nil && name != ""
}

// BadName is the answer to a request naming a profile that cannot exist.
func BadName(err error) error {
	return httperr.Errorf(http.StatusBadRequest, codeBadName, "%v", err)
}

// codeBadName is the code of BadName's answer.
const codeBadName = "InvalidProfileName"

// checkToken is authorized as middleware, for the routed credentials paths.
func (s *server) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authorized(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// authorized reports whether r carries the token, and answers it with an
// error when not.
func (s *server) authorized(w http.ResponseWriter, r *http.Request) bool {
	got := header(r.Header, "Authorization")
	if got != "" && s.tokenMatches(got) {
		return true
	}
	// A client without the token gets no more of this connection.
	w.Header().Set("Connection", "close")
	if got == "" {
		s.writeError(w, r, httperr.Errorf(http.StatusUnauthorized, "MissingToken", "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, e.g. eval \"$(brokerd env)\""))
	} else if strings.HasPrefix(got, tokens.Prefix) {
		s.writeError(w, r, httperr.Errorf(http.StatusForbidden, "ContainerToken", "a container token works only through brokerd's relay at http://%s (brokerd docker run); on this machine use the token file from brokerd env", wire.RelayAddr))
	} else {
		s.writeError(w, r, httperr.Errorf(http.StatusForbidden, "InvalidToken", "wrong authorization token: brokerd was restarted or the token file is stale; run eval \"$(brokerd env)\" again"))
	}
	return false
}

// tokenMatches compares got with the token in constant time. Only the
// length, public as every token is 64 hex digits, is compared early.
func (s *server) tokenMatches(got string) bool {
	return len(got) == len(s.token) && subtle.ConstantTimeCompare([]byte(got), s.token) == 1
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}`))
}

// jsonType is the Content-Type header's value, shared by every response
// (net/http does not modify it).
var jsonType = []string{"application/json"}

func (s *server) routedCredentials(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "profile")
	ok := true
	if r.URL.RawPath != "" {
		// chi matches the raw path when there is one, so the segment is
		// still escaped then.
		name, ok = unescape(name)
	}
	if !ok {
		s.writeError(w, r, httperr.Errorf(http.StatusNotFound, "NotFound", "malformed profile name in %q: credentials are at /v1/credentials/PROFILE", r.URL.Path))
		return
	}
	s.credentials(w, r, name)
}

// credentials answers with the credentials of profile name, or of the
// default profile when name is "".
func (s *server) credentials(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" {
		name = s.cfg.DefaultProfile
	}
	if name == "" {
		s.writeError(w, r, httperr.Errorf(http.StatusNotFound, "NoDefaultProfile", "no default profile: name one in the URL (/v1/credentials/PROFILE) or start brokerd with --default-profile"))
		return
	}
	if err := profile.CheckName(name); err != nil {
		s.writeError(w, r, BadName(err))
		return
	}
	if s.cfg.Audit != nil {
		s.cfg.Audit.seen(r)
	}
	c, err := s.creds.Get(r.Context(), name)
	if errors.Is(err, context.Canceled) {
		err = fault.New(fault.Cancelled, "the request was cancelled while brokerd fetched credentials (brokerd is stopping, or the client left): try again")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.cfg.Audit != nil {
		s.cfg.Audit.issued(r, name, &c)
	}
	w.Header()["Content-Type"] = jsonType
	w.Write(c.Body)
	if s.issued.sample() {
		s.logIssued(r, name, &c)
	}
}

// logIssued logs an issuance; it is apart from credentials to keep the
// hot path's stack small.
func (s *server) logIssued(r *http.Request, name string, c *cache.Served) {
	s.log.Info("issued credentials", zap.String("profile", name), zap.String("role_arn", c.RoleARN),
		zap.String("key", wire.Mask(c.AccessKeyID)), zap.Time("expires", c.Expires), zap.String("client", r.RemoteAddr))
}

// refusedPerSecond is how many refusals a second are logged before
// thinning. With the cache's failure lines (at most 20 in a burst) and the
// issued lines (10 a second) the daemon's log stays under 100 lines a
// second whatever clients send.
const refusedPerSecond = 50

// sampler lets through the first lines of each second and every 1000th
// beyond, so a busy client cannot flood the log: zap's sampler for a
// single message, without a clock reading per request. The first line of a
// second starts the timer that ends it.
type sampler struct {
	first  uint64        // lines let through each window before thinning
	window time.Duration // a second
	clock  clockwork.Clock
	n      atomic.Uint64
}

func (s *sampler) sample() bool {
	const thereafter = 1000
	n := s.n.Add(1)
	if n == 1 {
		s.clock.AfterFunc(s.window, func() { s.n.Store(0) })
	}
	return n <= s.first || (n-s.first)%thereafter == 0
}
