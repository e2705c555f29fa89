// Package server provides the container credentials endpoint that AWS SDKs
// and the aws CLI read through AWS_CONTAINER_CREDENTIALS_FULL_URI.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/keychain"
)

// Credentials gives credentials for a profile; *cache.Cache implements it.
type Credentials interface {
	Get(ctx context.Context, profile string) (cache.Credentials, error)
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
	// Log receives a sampled line per issuance and one per error; nil logs
	// nothing.
	Log *zap.Logger
}

type server struct {
	creds     Credentials
	cfg       Config
	tokenHash [sha256.Size]byte
	log       *zap.Logger
	issued    *zap.Logger
}

// New returns the endpoint's handler.
func New(creds Credentials, cfg Config) http.Handler {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	s := &server{creds: creds, cfg: cfg, tokenHash: sha256.Sum256([]byte(cfg.Token)), log: log}
	// At most 10 issuance lines a second, and every 1000th beyond, so a busy
	// client cannot flood the log.
	s.issued = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, 10, 1000)
	}))

	r := chi.NewRouter()
	r.Use(s.checkHost, s.refuseBrowsers)
	r.Get("/healthz", s.healthz)
	r.Group(func(r chi.Router) {
		r.Use(s.checkToken)
		r.Get("/v1/credentials", s.credentials)
		r.Get("/v1/credentials/{profile}", s.credentials)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, Errorf(http.StatusNotFound, "NotFound", "no such path %q: credentials are at /v1/credentials/PROFILE", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET"))
	})
	return r
}

// checkHost refuses requests whose Host header is not the address served,
// which defeats DNS rebinding from web pages.
func (s *server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range s.cfg.Hosts {
			if r.Host == h {
				next.ServeHTTP(w, r)
				return
			}
		}
		s.writeError(w, r, Errorf(http.StatusForbidden, "InvalidHost", "Host header %q is not this endpoint's address: use the URL from `brokerd env`", r.Host))
	})
}

// refuseBrowsers refuses requests that carry headers only browsers send.
func (s *server) refuseBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		browser := r.Header.Get("Origin") != ""
		for k := range r.Header {
			browser = browser || strings.HasPrefix(k, "Sec-Fetch-")
		}
		if browser {
			s.writeError(w, r, Errorf(http.StatusForbidden, "BrowserRequest", "requests from web browsers are refused"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) checkToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if got == "" {
			s.writeError(w, r, Errorf(http.StatusUnauthorized, "MissingToken", "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, e.g. eval \"$(brokerd env)\""))
			return
		}
		// Hashing first makes the comparison's time independent of the
		// token's length as well as its content.
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) != 1 {
			s.writeError(w, r, Errorf(http.StatusForbidden, "InvalidToken", "wrong authorization token: brokerd was restarted or the token file is stale; run eval \"$(brokerd env)\" again"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}`))
}

// response is the body the SDKs' container credentials providers read.
type response struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
	AccountID       string `json:"AccountId,omitempty"`
	RoleArn         string `json:"RoleArn,omitempty"`
}

func (s *server) credentials(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "profile")
	if name == "" {
		name = s.cfg.DefaultProfile
	}
	if name == "" {
		s.writeError(w, r, Errorf(http.StatusNotFound, "NoDefaultProfile", "no default profile: name one in the URL (/v1/credentials/PROFILE) or start brokerd with --default-profile"))
		return
	}
	c, err := s.creds.Get(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := json.Marshal(response{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		Token:           c.SessionToken,
		Expiration:      c.Expires.UTC().Format(time.RFC3339),
		AccountID:       c.AccountID,
		RoleArn:         c.RoleARN,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
	s.issued.Info("issued credentials", zap.String("profile", name), zap.String("role_arn", c.RoleARN),
		zap.String("key", keychain.Mask(c.AccessKeyID)), zap.Time("expires", c.Expires), zap.String("client", r.RemoteAddr))
}
