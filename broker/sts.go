package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/sdkenv"
	"github.com/brokerd/brokerd/wakepool"
)

// stsClients keeps one STS client per region and endpoint, all on one
// connection pool, configured as the SDK configures the client of a
// profile's credential provider: region and endpoint from the environment
// (AWS_REGION, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, AWS_CA_BUNDLE), else
// from the profile asked for (region, endpoint_url), else from its source
// profile. Clients carry no credentials: each call is signed with its own.
// The environment is read once; clients are dropped when the config file
// changes.
type stsClients struct {
	// wall tells the wall-clock time, so that the pool can tell a laptop
	// slept; nil means the real clock.
	wall func() time.Time

	mu        sync.Mutex
	base      *aws.Config // the environment's configuration, loaded once
	transport *http.Transport
	pool      *wakepool.Pool
	clients   map[stsKey]*sts.Client
}

type stsKey struct{ region, endpoint string }

// close closes the idle connections to STS.
func (s *stsClients) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}

// reset drops the clients; the connection pool stays.
func (s *stsClients) reset() {
	s.mu.Lock()
	s.clients = nil
	s.mu.Unlock()
}

// get returns the client for a profile p, whose source profile is source.
func (s *stsClients) get(ctx context.Context, p, source profile.Profile) (*sts.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil {
		if err := s.load(ctx); err != nil {
			return nil, err
		}
	}
	key := stsKey{cmp.Or(s.base.Region, p.Region, source.Region, "us-east-1"), p.EndpointURL}
	if key.endpoint == "" && !p.IgnoreEndpoints {
		key.endpoint = source.EndpointURL
	}
	if c := s.clients[key]; c != nil {
		return c, nil
	}
	cfg := s.base.Copy()
	cfg.Region = key.region
	c := sts.NewFromConfig(cfg, func(o *sts.Options) {
		if o.BaseEndpoint == nil && key.endpoint != "" {
			o.BaseEndpoint = aws.String(key.endpoint)
		}
	})
	if s.clients == nil {
		s.clients = map[stsKey]*sts.Client{}
	}
	s.clients[key] = c
	return c, nil
}

// load reads the environment's configuration once. The shared files are
// left out, and with them AWS_PROFILE: the SDK refuses to load a role
// profile whose source_profile has no keys in them, and a brokerd source
// profile never has.
func (s *stsClients) load(ctx context.Context) error {
	cfg, err := sdkenv.Load(ctx,
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithAppID("brokerd"),
		// One attempt, but for a reset mid-response: the cache retries
		// with backoff, and a request's client gives up after a second
		// or two.
		config.WithRetryer(readRetryer))
	if err != nil {
		return fmt.Errorf("load AWS configuration from the environment: %w", err)
	}
	// The transport as the SDK configured it (AWS_CA_BUNDLE included), in
	// a client whose idle connections close can close.
	tr := awshttp.NewBuildableClient().GetTransport()
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	}
	tr.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	s.pool = wakepool.New(tr, s.wall, nil)
	cfg.HTTPClient = &http.Client{Transport: s.pool, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.base, s.transport = &cfg, tr
	return nil
}

// readRetryer tries a call twice when its answer arrived but the
// connection was reset while it was read (aws-sdk-go-v2#2737: the server's
// RST races the read), or when STS refused its signature and its Date
// header shows this machine's clock off by minutes (the SDK marks such an
// error retryable, and signs the next attempt with the corrected time);
// or when a pooled connection gave no answer in time and was given up as
// dead (the next attempt dials a new one); any other failure is the
// cache's to retry, so that a failing STS sees one call per retry window.
func readRetryer() aws.Retryer {
	return twoAttempts(retry.IsErrorRetryableFunc(resetWhileReading), retry.IsErrorRetryableFunc(deadConnection), retry.RetryableError{})
}

// twoAttempts is a retryer that tries a call a second time, 20 ms later and
// with no rate limit, after a failure that one of retryables marks.
func twoAttempts(retryables ...retry.IsErrorRetryable) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.Retryables = retryables
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 20 * time.Millisecond, nil })
		o.RateLimiter = ratelimit.None
	})
}

func resetWhileReading(err error) aws.Ternary {
	var de *smithy.DeserializationError
	if errors.As(err, &de) && (strings.Contains(err.Error(), "use of closed network connection") || strings.Contains(err.Error(), "connection reset")) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// stsCredentials converts credentials STS returned.
func stsCredentials(c *types.Credentials, source string) aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(c.Expiration),
		Source:          source,
	}
}

// deadConnection marks wakepool.ErrDeadConnection retryable.
func deadConnection(err error) aws.Ternary {
	if errors.Is(err, wakepool.ErrDeadConnection) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}
