// Package broker provides temporary credentials for the profiles of the AWS
// config file. A profile resolves once into a plan; the plan's credential
// source (long-term keys in the keychain, or the MFA session opened with
// them) gives the credentials the plan starts from, and the broker assumes
// the plan's roles from there with STS.
package broker

import (
	"cmp"
	"context"
	"os/user"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/wire"
)

// Keys reads long-term keys; *keychain.Store implements it.
type Keys interface {
	Keys(ctx context.Context, profile string) (keychain.Keys, error)
}

var _ Keys = (*keychain.Store)(nil)

// Source gives the credentials a plan starts from: served as they are when
// the plan has no roles, else signing its first AssumeRole. Each kind of
// source implements it, and New registers it under its profile.Kind.
type Source interface {
	Credentials(ctx context.Context, p profile.Plan) (aws.Credentials, error)
}

// Config holds the broker's optional settings.
type Config struct {
	// ConfigPath is the AWS config file; empty means profile.Path().
	ConfigPath string
	// Load parses the config file; nil means profile.Load.
	Load func(path string) (*profile.Config, error)
	// Log receives debug lines of STS calls; nil logs nothing.
	Log *zap.Logger
	// Duration is how long credentials last when the profile sets no
	// duration_seconds; 0 means 1h.
	Duration time.Duration
	// Sessions keeps MFA sessions across restarts; nil keeps them in
	// memory only.
	Sessions Sessions
	// Clock tells the time; nil means the real clock.
	Clock clockwork.Clock
	// SSO gets the credentials of IAM Identity Center profiles; nil
	// refuses them as unsupported.
	SSO SSO
}

// Broker turns profile names into temporary credentials.
type Broker struct {
	keys    Keys
	cfg     Config
	log     *zap.Logger
	file    *configFile
	sts     *stsClients
	mfa     *mfaSource
	sources map[profile.Kind]Source

	keysMu sync.Mutex
	held   map[string]heldKeys // long-term keys by source profile
}

// New returns a broker that signs STS calls with keys from keys.
func New(keys Keys, cfg Config) *Broker {
	cfg.Duration = cmp.Or(cfg.Duration, time.Hour)
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	b := &Broker{keys: keys, cfg: cfg, log: log, file: &configFile{path: cfg.ConfigPath, load: cfg.Load}}
	b.sts = &stsClients{wall: cfg.Clock.Now}
	b.mfa = newMFASource(b)
	b.sources = map[profile.Kind]Source{
		profile.KindKeys: keysSource{b},
		profile.KindMFA:  b.mfa,
		profile.KindSSO:  ssoSource{b},
	}
	return b
}

// Close closes the broker's idle connections to STS and forgets the
// long-term keys it holds.
func (b *Broker) Close() {
	b.sts.close()
	b.ForgetKeys() // and their timers end at their next look
}

// Profiles returns the config file as it is now, parsed again only when
// it changed, so edits need no restart.
func (b *Broker) Profiles() (*profile.Config, error) {
	cfg, changed, err := b.file.get(false)
	if changed {
		b.sts.reset()
	}
	return cfg, err
}

// Reload parses the config file again, changed or not.
func (b *Broker) Reload() (*profile.Config, error) {
	b.ForgetKeys()
	cfg, _, err := b.file.get(true)
	b.sts.reset()
	return cfg, err
}

// ConfigEpoch changes whenever the config file changes; it does not parse
// the file.
func (b *Broker) ConfigEpoch() uint64 { return b.file.epoch() }

// Plan resolves the named profile. Errors are *fault.Error.
func (b *Broker) Plan(name string) (profile.Plan, error) {
	cfg, err := b.Profiles()
	if err != nil {
		return profile.Plan{}, classify(name, err)
	}
	p, err := cfg.Plan(name)
	if err != nil {
		return profile.Plan{}, classify(name, err)
	}
	return p, nil
}

// Fetch returns new temporary credentials for the named profile. Errors
// are *fault.Error.
func (b *Broker) Fetch(ctx context.Context, name string) (creds.Credentials, error) {
	p, err := b.Plan(name)
	if err != nil {
		return creds.Credentials{}, err
	}
	c, err := b.FetchPlan(ctx, p)
	if err != nil {
		f := classify(name, err)
		if badKeys(f.Code) {
			b.ForgetKeys(p.Source.Name) // read them anew: they may have changed
		}
		return creds.Credentials{}, f
	}
	return c, nil
}

// FetchPlan returns new temporary credentials for a resolved plan.
func (b *Broker) FetchPlan(ctx context.Context, p profile.Plan) (creds.Credentials, error) {
	src, ok := b.sources[p.Kind]
	if !ok {
		return creds.Credentials{}, fault.New(fault.Unsupported, "profile %q: brokerd has no credential source of kind %q", p.Name, p.Kind)
	}
	base, err := src.Credentials(ctx, p)
	if err != nil || len(p.Chain) == 0 {
		return creds.Credentials{Credentials: base}, err
	}
	client, err := b.sts.get(ctx, role(p), p.Source)
	if err != nil {
		return creds.Credentials{}, err
	}
	c := base
	for _, role := range p.Chain {
		c, err = stscreds.NewAssumeRoleProvider(signed{client, c}, role.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = sessionName(role.RoleSessionName)
			o.Duration = cmp.Or(role.Duration, b.cfg.Duration)
			if role.ExternalID != "" {
				o.ExternalID = aws.String(role.ExternalID)
			}
		}).Retrieve(ctx)
		if err != nil {
			return creds.Credentials{}, &stsError{op: "AssumeRole", profile: role, signer: p.Source.Name, session: p.Kind == profile.KindMFA,
				ssoLogin: ssoLogin(p), err: err}
		}
	}
	role, _ := p.Role()
	b.log.Debug("assumed role", zap.String("profile", p.Name), zap.String("role_arn", role.RoleARN),
		zap.String("key", wire.Mask(c.AccessKeyID)), zap.Time("expires", c.Expires))
	return creds.Credentials{Credentials: c, RoleARN: role.RoleARN}, nil
}

// signed is an STS client whose calls are signed with fixed credentials,
// so that one client (and its connections) serves every source.
type signed struct {
	client *sts.Client
	creds  aws.Credentials
}

func (s signed) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return s.client.AssumeRole(ctx, in, append(opts, s.sign)...)
}

func (s signed) GetSessionToken(ctx context.Context, in *sts.GetSessionTokenInput) (*sts.GetSessionTokenOutput, error) {
	return s.client.GetSessionToken(ctx, in, s.sign)
}

func (s signed) sign(o *sts.Options) { o.Credentials = static(s.creds) }

type static aws.Credentials

func (c static) Retrieve(context.Context) (aws.Credentials, error) { return aws.Credentials(c), nil }

var notSessionChar = regexp.MustCompile(`[^\w+=,.@-]`)

var userSessionName = sync.OnceValue(func() string {
	name := "brokerd"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name += "-" + notSessionChar.ReplaceAllString(u.Username, "_")
	}
	return name[:min(len(name), 64)]
})

// sessionName is the role session name: the profile's, else
// brokerd-USER, which shows in CloudTrail who assumed the role.
func sessionName(configured string) string {
	return cmp.Or(configured, userSessionName())
}

// ssoLogin is what `brokerd login` takes for p's source, "" unless the
// source is IAM Identity Center.
func ssoLogin(p profile.Plan) string {
	if p.Kind != profile.KindSSO {
		return ""
	}
	return p.LoginName()
}

// role is the outermost role of p, whose region and endpoint its STS calls use.
func role(p profile.Plan) profile.Profile {
	r, _ := p.Role()
	return r
}
