package broker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// stsClients keeps one STS client per profile, configured as the SDK
// configures the client of that profile's credential provider (region and
// endpoint from the environment and the profile: AWS_REGION,
// AWS_ENDPOINT_URL_STS, endpoint_url, services, region). Clients carry no
// credentials: each call is signed with its own. They are dropped when the
// config file changes.
type stsClients struct {
	configPath string

	mu         sync.Mutex
	clients    map[string]*sts.Client
	transports []*http.Transport // of every client built, to close
}

// close closes the idle connections to STS.
func (s *stsClients) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tr := range s.transports {
		tr.CloseIdleConnections()
	}
}

func (s *stsClients) reset() {
	s.mu.Lock()
	s.clients = nil
	s.mu.Unlock()
}

// get returns the client for profile name, whose source profile is source.
func (s *stsClients) get(ctx context.Context, name, source string) (*sts.Client, error) {
	s.mu.Lock()
	c := s.clients[name]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, tr, err := s.build(ctx, name, source)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.clients == nil {
		s.clients = map[string]*sts.Client{}
	}
	s.clients[name] = c
	s.transports = append(s.transports, tr)
	s.mu.Unlock()
	return c, nil
}

func (s *stsClients) build(ctx context.Context, name, source string) (*sts.Client, *http.Transport, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithAppID("brokerd"),
		// One attempt: the cache retries with backoff, and a request's
		// client gives up after a second or two.
		config.WithRetryMaxAttempts(1),
	}
	if s.configPath != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{s.configPath}))
	}
	// The SDK configures the client from the profile asked for; where it
	// cannot load that profile (its source has keys in the keychain only,
	// say), from the source profile, else as with no profile named.
	var cfg aws.Config
	var err error
	for _, n := range append(slices.Compact([]string{name, source}), "") {
		o := opts
		if n != "" {
			o = append(o, config.WithSharedConfigProfile(n))
		}
		if cfg, err = config.LoadDefaultConfig(ctx, o...); err == nil {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load AWS config for profile %q: %w", name, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// The transport as the SDK configured it (AWS_CA_BUNDLE included),
	// in a client whose idle connections Close can close.
	var tr *http.Transport
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else {
		tr = awshttp.NewBuildableClient().GetTransport()
	}
	tr.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return sts.NewFromConfig(cfg), tr, nil
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
