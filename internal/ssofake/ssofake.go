// Package ssofake is an IAM Identity Center for tests: one HTTP server that
// speaks the SSO OIDC and SSO portal REST-JSON APIs as aws-sdk-go-v2's
// ssooidc and sso clients model them, with a device flow that a test (or a
// GET of the verification URI) approves.
package ssofake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jonboulle/clockwork"
)

// ErrNoAccess, wrapped in an error of Config.Mint, answers GetRoleCredentials
// with the portal's ForbiddenException ("No access").
var ErrNoAccess = errors.New("no access to the role")

// Config sets the server's lifetimes and how it mints role credentials.
type Config struct {
	// Clock judges expiry and the spacing of polls; nil means the real clock.
	Clock clockwork.Clock
	// TokenLifetime is how long access tokens last; 0 means one hour.
	TokenLifetime time.Duration
	// CodeLifetime is how long a device code waits for approval; 0 means
	// ten minutes.
	CodeLifetime time.Duration
	// RegistrationLifetime is how long a client registration lasts; 0
	// means 90 days.
	RegistrationLifetime time.Duration
	// Interval is the poll interval StartDeviceAuthorization gives, in
	// whole seconds; 0 means one second.
	Interval time.Duration
	// MinPoll, when set, answers SlowDownException to a poll of a device
	// code that comes sooner than MinPoll after the previous poll.
	MinPoll time.Duration
	// RealSizes issues values as long as IAM Identity Center's: client
	// secrets of about 1,900 characters (a signed "eyJraWQi…" token),
	// access and refresh tokens of about 1,100 ("aoa…", "aor…"); false
	// issues short ones (64 to 67 characters), which fit any keychain item.
	RealSizes bool
	// Mint returns the credentials of a role for GetRoleCredentials; nil
	// means fixed test credentials that expire an hour later. An error
	// wrapping ErrNoAccess answers ForbiddenException, any other
	// InternalServerException.
	Mint func(ctx context.Context, accountID, roleName string) (aws.Credentials, error)
}

// Call is one request the server answered.
type Call struct {
	Op        string // the SDK's operation name: RegisterClient, CreateToken, GetRoleCredentials…
	GrantType string // CreateToken's grantType
	At        time.Time
}

// Server is the fake. Point the SDK at URL for both services: the base
// endpoint of ssooidc and sso clients, or AWS_ENDPOINT_URL_SSO_OIDC and
// AWS_ENDPOINT_URL_SSO.
type Server struct {
	URL string

	cfg   Config
	clock clockwork.Clock
	srv   *httptest.Server

	mu      sync.Mutex
	clients map[string]*client // by client id
	devices map[string]*device // by device code
	access  map[string]*grant  // by access token
	refresh map[string]*grant  // by refresh token
	calls   []Call
}

type client struct {
	secret  string
	scopes  []string
	expires time.Time
}

type device struct {
	clientID, userCode, startURL string
	expires, lastPoll            time.Time
	approved, denied             bool
}

// grant is what a token stands for. An access token and its refresh
// token share one.
type grant struct {
	clientID, startURL string
	expires            time.Time // of the access token
	access, refresh    string
}

// New starts a server; Close stops it.
func New(cfg Config) *Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.TokenLifetime, time.Hour)
	def(&cfg.CodeLifetime, 10*time.Minute)
	def(&cfg.RegistrationLifetime, 90*24*time.Hour)
	def(&cfg.Interval, time.Second)
	s := &Server{
		cfg:     cfg,
		clock:   cfg.Clock,
		clients: map[string]*client{},
		devices: map[string]*device{},
		access:  map[string]*grant{},
		refresh: map[string]*grant{},
	}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /client/register", s.registerClient)
	mux.HandleFunc("POST /device_authorization", s.startDeviceAuthorization)
	mux.HandleFunc("POST /token", s.createToken)
	mux.HandleFunc("GET /device", s.verify)
	mux.HandleFunc("GET /federation/credentials", s.getRoleCredentials)
	mux.HandleFunc("POST /logout", s.logout)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Approve approves the device authorization of userCode, as the person
// does in the browser: the next poll of its device code gets tokens.
func (s *Server) Approve(userCode string) error { return s.decide(userCode, true) }

// Deny refuses the device authorization of userCode: the next poll of its
// device code gets AccessDeniedException.
func (s *Server) Deny(userCode string) error { return s.decide(userCode, false) }

func (s *Server) decide(userCode string, approve bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		if d.userCode == userCode {
			d.approved, d.denied = approve, !approve
			return nil
		}
	}
	return fmt.Errorf("no device authorization with user code %q", userCode)
}

// RevokeRefreshTokens makes every refresh token issued so far invalid, as
// when the session ends at the identity provider: refreshes get
// InvalidGrantException.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
}

// RevokeAccessTokens makes every access token issued so far invalid:
// GetRoleCredentials answers UnauthorizedException.
func (s *Server) RevokeAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// Calls returns the requests answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Count returns how many requests of operation op were answered.
func (s *Server) Count(op string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// record notes a call; s.mu must be held.
func (s *Server) record(op, grantType string) {
	s.calls = append(s.calls, Call{Op: op, GrantType: grantType, At: s.clock.Now()})
}

func (s *Server) staticCredentials(_ context.Context, accountID, roleName string) (aws.Credentials, error) {
	return aws.Credentials{
		AccessKeyID:     "ASIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken:    "fake-session-token-" + accountID + "-" + roleName,
		CanExpire:       true,
		Expires:         s.clock.Now().Add(time.Hour),
	}, nil
}

// The lengths of what the server issues with Config.RealSizes.
const (
	realSecretLen = 1900
	realTokenLen  = 1100
)

// secret returns a new client secret.
func (s *Server) secret() string {
	if !s.cfg.RealSizes {
		return randomHex(32)
	}
	const jwtHeader = "eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0."
	return jwtHeader + randomHex((realSecretLen-len(jwtHeader))/2)
}

// token returns a new access or refresh token, starting with prefix.
func (s *Server) token(prefix string) string {
	if !s.cfg.RealSizes {
		return prefix + randomHex(32)
	}
	return prefix + randomHex((realTokenLen-len(prefix))/2)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// userCode is eight capital letters in two groups, as the service gives.
func userCode() string {
	const letters = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}
