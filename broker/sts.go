package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	http       *awshttp.BuildableClient

	mu      sync.Mutex
	clients map[string]*sts.Client
}

func (s *stsClients) reset() {
	s.mu.Lock()
	s.clients = nil
	s.mu.Unlock()
}

func (s *stsClients) get(ctx context.Context, name string) (*sts.Client, error) {
	s.mu.Lock()
	c := s.clients[name]
	if s.http == nil {
		// One connection pool for every client.
		s.http = awshttp.NewBuildableClient().WithTimeout(10 * time.Second).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = 3 * time.Second })
	}
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.build(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.clients == nil {
		s.clients = map[string]*sts.Client{}
	}
	s.clients[name] = c
	s.mu.Unlock()
	return c, nil
}

func (s *stsClients) build(ctx context.Context, name string) (*sts.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(aws.AnonymousCredentials{}),
		config.WithHTTPClient(s.http),
		config.WithAppID("brokerd"),
		// One attempt: the cache retries with backoff, and a request's
		// client gives up after a second or two.
		config.WithRetryMaxAttempts(1),
	}
	if s.configPath != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{s.configPath}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, config.WithSharedConfigProfile(name))...)
	var missing config.SharedConfigProfileNotExistError
	if errors.As(err, &missing) && missing.Profile == name {
		// A source profile whose keys are in the keychain needs no section:
		// configure the client as the SDK does when no profile is named.
		cfg, err = config.LoadDefaultConfig(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("load AWS config for profile %q: %w", name, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return sts.NewFromConfig(cfg), nil
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
