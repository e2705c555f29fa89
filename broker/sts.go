package broker

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/brokerd/brokerd/profile"
)

// stsClients keeps one STS client per profile, configured as the SDK
// configures the client of that profile's credential provider: region and
// endpoint from the environment (AWS_REGION, AWS_ENDPOINT_URL_STS,
// AWS_ENDPOINT_URL, AWS_CA_BUNDLE), else from the profile asked for
// (region, endpoint_url), else from its source profile. Clients carry no
// credentials: each call is signed with its own. They are dropped when the
// config file changes.
type stsClients struct {
	mu         sync.Mutex
	clients    map[string]*sts.Client
	transports []*http.Transport // of every client built, to close
	gen        uint64            // counts resets, so a build begun before one is not kept
}

// close closes the idle connections to STS.
func (s *stsClients) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tr := range s.transports {
		tr.CloseIdleConnections()
	}
}

// reset drops the clients, closing their idle connections.
func (s *stsClients) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tr := range s.transports {
		tr.CloseIdleConnections()
	}
	s.clients, s.transports = nil, nil
	s.gen++
}

// get returns the client for profile name: its region and endpoint are
// those of p (the profile asked for), else of its source profile.
func (s *stsClients) get(ctx context.Context, name string, p, source profile.Profile) (*sts.Client, error) {
	s.mu.Lock()
	c, gen := s.clients[name], s.gen
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, tr, err := s.build(ctx, name, p, source)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transports = append(s.transports, tr)
	if s.gen != gen {
		return c, nil // the config changed meanwhile: use it once, keep it not
	}
	if s.clients == nil {
		s.clients = map[string]*sts.Client{}
	}
	s.clients[name] = c
	return c, nil
}

func (s *stsClients) build(ctx context.Context, name string, p, source profile.Profile) (*sts.Client, *http.Transport, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithAppID("brokerd"),
		// One attempt: the cache retries with backoff, and a request's
		// client gives up after a second or two.
		config.WithRetryMaxAttempts(1),
	}
	// The environment only (AWS_REGION, AWS_ENDPOINT_URL_STS, AWS_CA_BUNDLE):
	// the SDK refuses to load a role profile whose source_profile has no
	// keys in the files, and a brokerd source profile never has.
	opts = append(opts, config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load AWS config for profile %q: %w", name, err)
	}
	cfg.Region = cmp.Or(cfg.Region, p.Region, source.Region, "us-east-1")
	endpoint := cmp.Or(p.EndpointURL, source.EndpointURL)
	if strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		endpoint = ""
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
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if o.BaseEndpoint == nil && endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), tr, nil
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
