// Package sso signs in to IAM Identity Center with the OAuth device flow,
// keeps each session's tokens in a Store, refreshes them without a person,
// and exchanges them for role credentials.
package sso

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	ssoportal "github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/brokerd/brokerd/sdkenv"
	"github.com/brokerd/brokerd/wakepool"
)

var (
	// ErrLoginRequired means a session has no usable token: nobody signed
	// in, or its token expired and cannot be refreshed. A person must sign
	// in again.
	ErrLoginRequired = errors.New("sso login required")
	// ErrCodeExpired means a device code expired before it was approved.
	ErrCodeExpired = errors.New("the sign-in code expired before it was approved")
	// ErrDenied means the person refused the sign-in request.
	ErrDenied = errors.New("the sign-in request was denied")
	// ErrStillSignedInAtPortal means Logout removed a session's tokens but
	// could not have the portal end the sign-in, which lasts there until
	// the identity provider ends it.
	ErrStillSignedInAtPortal = errors.New("the portal was not told to end the sign-in")
)

// Session is an IAM Identity Center sign-in as the AWS SDKs read it: an
// sso-session section, or the legacy form, a profile's sso_start_url and
// sso_region, which has no Name.
type Session struct {
	Name     string   // the sso-session name; "" in the legacy form
	StartURL string   // sso_start_url
	Region   string   // sso_region, where the OIDC and portal endpoints are
	Scopes   []string // sso_registration_scopes; none means sso:account:access for a named session
}

// Key names the session's tokens in the Store: its name, or in the legacy
// form its start URL.
func (s Session) Key() string {
	if s.Name != "" {
		return s.Name
	}
	return s.StartURL
}

func (s Session) validate() error {
	if s.StartURL == "" || s.Region == "" {
		return fmt.Errorf("sso session %q needs sso_start_url and sso_region", s.Key())
	}
	return nil
}

// scopes are the scopes to register: the configured ones, or for a named
// session the default of the AWS CLI. The legacy form registers none, and
// so gets no refresh token.
func (s Session) scopes() []string {
	if len(s.Scopes) == 0 && s.Name != "" {
		return []string{"sso:account:access"}
	}
	return s.Scopes
}

// Token is a session's access token and when it expires. Its String method
// does not show the token.
type Token struct {
	AccessToken string
	Expires     time.Time
	// Refreshable is true while a refresh token is stored: brokerd renews
	// the access token before it expires, without a person.
	Refreshable bool
	// InMemoryOnly is true while the token, refreshed when the Store
	// refused it (a locked keychain), is held only in memory: the refresh
	// token it replaced is spent, so a restart before a later store takes
	// it needs a new sign-in.
	InMemoryOnly bool
}

func (t Token) String() string {
	return "sso access token expiring " + t.Expires.UTC().Format(time.RFC3339)
}
func (t Token) GoString() string { return t.String() }

// Store keeps one JSON blob per session key, holding the access and
// refresh tokens, their expiry and the client registration. The daemon's
// is the OS keychain: tokens are never written to files.
type Store interface {
	// Get returns the blob stored under key, or nil and no error when
	// there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores blob under key, replacing any other.
	Set(ctx context.Context, key string, blob []byte) error
	// Delete removes the blob under key; none stored is no error.
	Delete(ctx context.Context, key string) error
}

// Config holds the optional settings of a Client.
type Config struct {
	// Clock tells the time to judge expiry and times the device-flow
	// polls; nil means the real clock.
	Clock clockwork.Clock
	// OIDCEndpoint and PortalEndpoint replace the base URLs of the SSO OIDC
	// and SSO portal services; "" means what the SDK resolves for the
	// session's region, which honours AWS_ENDPOINT_URL_SSO_OIDC,
	// AWS_ENDPOINT_URL_SSO and AWS_ENDPOINT_URL.
	OIDCEndpoint, PortalEndpoint string
	// RefreshBefore is how long before it expires an access token is
	// refreshed; 0 means 5 minutes.
	RefreshBefore time.Duration
}

// Client signs in to IAM Identity Center and keeps sessions' tokens. It is
// safe for concurrent use.
type Client struct {
	store Store
	log   *zap.Logger
	cfg   Config
	clock clockwork.Clock

	mu      sync.Mutex
	regions map[string]*services

	flights singleflight.Group // refreshes, by session key

	// locks holds, by session key, the lock (a channel of one, so that a
	// wait for it can end with a ctx) held while that session's record is
	// read, changed and written: one session's slow refresh holds up no
	// other session.
	locksMu sync.Mutex
	locks   map[string]chan struct{}

	// unsaved holds, by session key, a record refreshed at the service
	// that the Store refused (a keychain locked after a sleep): the
	// refresh token it replaced is spent, so it is kept, and used, until
	// a later store takes it (see storeLater).
	unsavedMu sync.Mutex
	unsaved   map[string]unsaved
	storing   map[string]bool // the keys whose store is under way in the background
	stopped   bool            // StoreUnsaved began: no more stores in the background
	wg        sync.WaitGroup  // those stores, added to under unsavedMu
	bg        context.Context // theirs, which StoreUnsaved cancels
	stopBg    context.CancelFunc
}

// unsaved is a record the Store refused, and when it was last offered to
// the Store.
type unsaved struct {
	r     record
	tried time.Time
}

// services are the SDK clients of one region, built once.
type services struct {
	oidc   *ssooidc.Client
	portal *ssoportal.Client
}

// New returns a Client that keeps tokens in store.
func New(store Store, log *zap.Logger, cfg Config) *Client {
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = 5 * time.Minute
	}
	c := &Client{store: store, log: log.Named("sso"), cfg: cfg, clock: cfg.Clock, regions: map[string]*services{},
		locks: map[string]chan struct{}{}, unsaved: map[string]unsaved{}, storing: map[string]bool{}}
	c.bg, c.stopBg = context.WithCancel(context.Background())
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	return c
}

// lock locks the record of the session key, and returns its unlock.
func (c *Client) lock(key string) (unlock func()) {
	unlock, _ = c.lockCtx(context.Background(), key)
	return unlock
}

// lockCtx is lock, waiting no longer than ctx: it returns ctx's error
// when that ends first.
func (c *Client) lockCtx(ctx context.Context, key string) (unlock func(), err error) {
	c.locksMu.Lock()
	m := c.locks[key]
	if m == nil {
		m = make(chan struct{}, 1)
		c.locks[key] = m
	}
	c.locksMu.Unlock()
	select {
	case m <- struct{}{}:
		return func() { <-m }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// services returns the SDK clients of region, configured as the SDK
// configures them from the environment, with short timeouts and one retry.
func (c *Client) services(ctx context.Context, region string) (*services, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.regions[region]; s != nil {
		return s, nil
	}
	// The shared files are left out: the session is resolved already, and
	// AWS_PROFILE names some other profile.
	cfg, err := sdkenv.Load(ctx, config.WithRegion(region),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(10*time.Second).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = 3 * time.Second })),
		config.WithRetryMaxAttempts(2), config.WithAppID("brokerd"))
	if err != nil {
		return nil, fmt.Errorf("load AWS config for region %s: %w", region, err)
	}
	// The transport as the SDK configured it (AWS_CA_BUNDLE included), on
	// a pool that drops connections a laptop's sleep left dead.
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = &http.Client{Transport: wakepool.New(bc.GetTransport(), c.clock.Now, nil), Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s := &services{
		oidc: ssooidc.NewFromConfig(cfg, func(o *ssooidc.Options) {
			if c.cfg.OIDCEndpoint != "" {
				o.BaseEndpoint = aws.String(c.cfg.OIDCEndpoint)
			}
		}),
		portal: ssoportal.NewFromConfig(cfg, func(o *ssoportal.Options) {
			if c.cfg.PortalEndpoint != "" {
				o.BaseEndpoint = aws.String(c.cfg.PortalEndpoint)
			}
		}),
	}
	c.regions[region] = s
	return s, nil
}
