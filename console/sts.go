package console

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/sdkenv"
)

// newSTS returns the SDK's STS client, configured from the environment as
// the SDK configures it, signing with creds, in region, else the
// environment's region (AWS_REGION), else us-east-1.
func newSTS(ctx context.Context, creds aws.Credentials, region string) (STS, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: creds}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(5 * time.Second).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = 3 * time.Second })),
		config.WithRetryMaxAttempts(2), config.WithAppID("brokerd"),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	// The shared files are left out: the credentials are resolved.
	cfg, err := sdkenv.Load(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config for STS: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return sts.NewFromConfig(cfg), nil
}
