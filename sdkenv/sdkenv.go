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
	name, err := defaultOnly()
	if name != "" {
		defer os.Remove(name)
	}
	if err != nil {
		return aws.Config{}, fmt.Errorf("ignore AWS_PROFILE=%s, which brokerd does with a file of its own in TMPDIR (make TMPDIR writable, or unset AWS_PROFILE): %w", os.Getenv("AWS_PROFILE"), err)
	}
	opts = append(opts, config.WithSharedConfigFiles([]string{name}), config.WithSharedConfigProfile("default"))
	return config.LoadDefaultConfig(ctx, opts...)
}

// defaultOnly writes a config file that holds an empty [default] profile
// and returns its name ("" when none was made); the caller removes it.
func defaultOnly() (string, error) {
	f, err := os.CreateTemp("", "brokerd-aws-config-*")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString("[default]\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}
