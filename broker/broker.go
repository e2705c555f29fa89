// Package broker provides temporary credentials for the profiles of the AWS
// config file: it reads long-term keys from the keychain and calls STS
// AssumeRole or GetSessionToken with them.
package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
)

// Keys reads long-term keys; *keychain.Store implements it.
type Keys interface {
	Keys(ctx context.Context, profile string) (keychain.Keys, error)
}

var _ Keys = (*keychain.Store)(nil)

// Config holds the broker's optional settings.
type Config struct {
	// ConfigPath is the AWS config file; empty means profile.Path().
	ConfigPath string
	// Log receives debug lines of STS calls; nil logs nothing.
	Log *zap.Logger
	// Duration is how long credentials last when the profile sets no
	// duration_seconds; 0 means 1h.
	Duration time.Duration
	// Sessions keeps MFA sessions across restarts; nil keeps them in
	// memory only.
	Sessions Sessions
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Broker turns profile names into temporary credentials.
type Broker struct {
	keys Keys
	cfg  Config
	log  *zap.Logger

	mu       sync.Mutex
	sessions map[string]keychain.Session // by source profile
	warned   map[string]bool             // expiry warning logged, by source profile
	// gen counts logins and logouts by source profile, so that a session
	// read from the keychain is kept only if neither happened meanwhile.
	gen map[string]uint64
	// loggedOut holds the source profiles logged out and not logged in
	// since, whose keychain session is not read even if its delete failed.
	loggedOut map[string]bool
}

// New returns a broker that signs STS calls with keys from keys.
func New(keys Keys, cfg Config) *Broker {
	if cfg.Duration == 0 {
		cfg.Duration = time.Hour
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Broker{keys: keys, cfg: cfg, log: log, sessions: map[string]keychain.Session{}, warned: map[string]bool{},
		gen: map[string]uint64{}, loggedOut: map[string]bool{}}
}

// Profiles reads the AWS config file anew, so edits need no restart.
func (b *Broker) Profiles() (*profile.Config, error) {
	path := b.cfg.ConfigPath
	if path == "" {
		var err error
		if path, err = profile.Path(); err != nil {
			return nil, err
		}
	}
	return profile.Load(path)
}

// Fetch returns new temporary credentials for the named profile: a role's
// by AssumeRole (through its source_profile chain), a source profile's by
// GetSessionToken. Errors are *Error.
func (b *Broker) Fetch(ctx context.Context, name string) (cache.Credentials, error) {
	creds, err := b.fetch(ctx, name)
	if err != nil {
		return cache.Credentials{}, classify(name, err)
	}
	return creds, nil
}

func (b *Broker) fetch(ctx context.Context, name string) (cache.Credentials, error) {
	src, chain, err := b.resolve(ctx, name)
	if err != nil {
		return cache.Credentials{}, err
	}
	if mfaSerial(src, chain) != "" {
		sess, err := b.session(ctx, src.Name)
		if err != nil {
			return cache.Credentials{}, err
		}
		creds := sessionCredentials(sess)
		if len(chain) == 0 {
			return cache.Credentials{Credentials: creds}, nil
		}
		return b.assume(ctx, name, src, chain, credentials(creds), true)
	}
	keys, err := b.keys.Keys(ctx, src.Name)
	if err != nil {
		return cache.Credentials{}, &keysError{profile: src.Name, err: err}
	}
	provider := credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, Source: "brokerd keychain"}
	if len(chain) == 0 {
		client, err := b.stsClient(ctx, src, src, provider)
		if err != nil {
			return cache.Credentials{}, err
		}
		return b.sessionToken(ctx, client, src)
	}
	return b.assume(ctx, name, src, chain, provider, false)
}

// resolve finds the source profile whose keys sign for name, and the roles
// to assume from it, innermost first.
func (b *Broker) resolve(ctx context.Context, name string) (profile.Profile, []profile.Profile, error) {
	cfgFile, err := b.Profiles()
	if err != nil {
		return profile.Profile{}, nil, err
	}
	src, chain, err := cfgFile.Source(name)
	if errors.Is(err, profile.ErrNotFound) {
		// A profile whose keys are in the keychain needs no section. Only
		// missing keys mean no such profile: a locked or unreachable
		// keychain is its own error, which callers may retry.
		_, kerr := b.keys.Keys(ctx, name)
		switch {
		case kerr == nil:
			src, chain, err = profile.Profile{Name: name}, nil, nil
		case !errors.Is(kerr, keychain.ErrNotFound):
			err = &keysError{profile: name, err: kerr}
		}
	}
	if err != nil {
		return profile.Profile{}, nil, err
	}
	if len(src.Unsupported) > 0 {
		return profile.Profile{}, nil, fmt.Errorf("profile %q uses %v, which brokerd does not serve: give it keys with `brokerd keys add %s` instead", src.Name, src.Unsupported, src.Name)
	}
	return src, chain, nil
}

// assume assumes the roles of chain in turn, starting from provider: the
// keys of src, or its MFA session if session is set.
func (b *Broker) assume(ctx context.Context, name string, src profile.Profile, chain []profile.Profile, provider aws.CredentialsProvider, session bool) (cache.Credentials, error) {
	var creds aws.Credentials
	for _, role := range chain {
		client, err := b.stsClient(ctx, src, role, provider)
		if err != nil {
			return cache.Credentials{}, err
		}
		creds, err = stscreds.NewAssumeRoleProvider(client, role.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = sessionName(role.RoleSessionName)
			o.Duration = cmp.Or(role.Duration, b.cfg.Duration)
			if role.ExternalID != "" {
				o.ExternalID = aws.String(role.ExternalID)
			}
		}).Retrieve(ctx)
		if err != nil {
			return cache.Credentials{}, &stsError{op: "AssumeRole", profile: role, signer: src.Name, session: session, err: err}
		}
		provider = credentials(creds)
	}
	role := chain[len(chain)-1]
	b.log.Debug("assumed role", zap.String("profile", name), zap.String("role_arn", role.RoleARN),
		zap.String("key", keychain.Mask(creds.AccessKeyID)), zap.Time("expires", creds.Expires))
	return cache.Credentials{Credentials: creds, RoleARN: role.RoleARN}, nil
}

func (b *Broker) sessionToken(ctx context.Context, client *sts.Client, src profile.Profile) (cache.Credentials, error) {
	d := cmp.Or(src.Duration, b.cfg.Duration)
	out, err := client.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(int32(d / time.Second))})
	if err != nil {
		return cache.Credentials{}, &stsError{op: "GetSessionToken", profile: src, signer: src.Name, err: err}
	}
	c := out.Credentials
	return cache.Credentials{Credentials: aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(c.Expiration),
		Source:          "brokerd GetSessionToken",
	}}, nil
}

type credentials aws.Credentials

func (c credentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}

// stsClient returns an STS client configured as the AWS SDK configures one
// for profile: region and endpoint from the environment and the config
// file (AWS_REGION, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, endpoint_url,
// region), signing with provider.
func (b *Broker) stsClient(ctx context.Context, src, p profile.Profile, provider aws.CredentialsProvider) (*sts.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithCredentialsProvider(provider),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(10 * time.Second).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = 3 * time.Second })),
		config.WithAppID("brokerd"),
		// One attempt: the cache retries with backoff, and a request's
		// client gives up after a second or two.
		config.WithRetryMaxAttempts(1),
	}
	if b.cfg.ConfigPath != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{b.cfg.ConfigPath}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, config.WithSharedConfigProfile(src.Name))...)
	var missing config.SharedConfigProfileNotExistError
	if errors.As(err, &missing) && missing.Profile == src.Name {
		// A source profile whose keys are in the keychain needs no section:
		// configure the client as the SDK does when no profile is named.
		cfg, err = config.LoadDefaultConfig(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("load AWS config for profile %q: %w", p.Name, err)
	}
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" && p.Region != "" {
		cfg.Region = p.Region
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return sts.NewFromConfig(cfg), nil
}

var notSessionChar = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionName is the role session name: the profile's, else
// brokerd-USER, which shows in CloudTrail who assumed the role.
func sessionName(configured string) string {
	if configured != "" {
		return configured
	}
	name := "brokerd"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name += "-" + notSessionChar.ReplaceAllString(u.Username, "_")
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
