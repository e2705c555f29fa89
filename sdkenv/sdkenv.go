// Package sdkenv provides the AWS SDK's configuration from the environment
// alone (AWS_REGION, AWS_ENDPOINT_URL_*, AWS_CA_BUNDLE, retry settings), the
// shared files left out: brokerd resolves profiles itself.
package sdkenv

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load loads the SDK's configuration from the environment alone, leaving
// the shared files out, whatever profile AWS_PROFILE names: brokerd serve
// may start in a shell that set it, and the CLI runs in one.
//
// The SDK insists that a profile AWS_PROFILE (or WithSharedConfigProfile)
// names is in a shared file, even when it is told to read none, and fails
// with "failed to get shared config profile" (config.resolveConfigLoaders).
// So while AWS_PROFILE is set, the SDK is given one shared file of
// brokerd's own, holding nothing but an empty [default] profile, and told
// to read that profile: the same configuration as no files at all.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append(opts, config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}))
	if os.Getenv("AWS_PROFILE") == "" {
		return config.LoadDefaultConfig(ctx, opts...)
	}
	f, err := os.CreateTemp("", "brokerd-aws-config-*")
	if err != nil {
		return aws.Config{}, fmt.Errorf("ignore AWS_PROFILE=%s, which brokerd does with a file of its own in TMPDIR (make TMPDIR writable, or unset AWS_PROFILE): %w", os.Getenv("AWS_PROFILE"), err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString("[default]\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return aws.Config{}, fmt.Errorf("ignore AWS_PROFILE=%s, which brokerd does with a file of its own in TMPDIR (make TMPDIR writable, or unset AWS_PROFILE): %w", os.Getenv("AWS_PROFILE"), err)
	}
	opts = append(opts, config.WithSharedConfigFiles([]string{f.Name()}), config.WithSharedConfigProfile("default"))
	return config.LoadDefaultConfig(ctx, opts...)
}
