package broker

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/suggest"
)

// keysSource starts from the long-term keys kept in the keychain. They
// only sign: a source profile is served a GetSessionToken session.
type keysSource struct{ b *Broker }

var _ Source = keysSource{}

func (s keysSource) Credentials(ctx context.Context, p profile.Plan) (aws.Credentials, error) {
	long, err := s.b.longTerm(ctx, p)
	if err != nil || len(p.Chain) > 0 {
		return long, err
	}
	client, err := s.b.sts.get(ctx, p.Source, p.Source)
	if err != nil {
		return aws.Credentials{}, err
	}
	d := cmp.Or(p.Source.Duration, s.b.cfg.Duration)
	out, err := signed{client, long}.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(int32(d / time.Second))})
	if err != nil {
		return aws.Credentials{}, &stsError{op: "GetSessionToken", profile: p.Source, signer: p.Source.Name, err: err}
	}
	return stsCredentials(out.Credentials, "brokerd GetSessionToken"), nil
}

// keysMaxAge is how long long-term keys read from the keychain are kept in
// memory, on the wall clock. `brokerd keys add|remove` and a reload drop
// them at once (see ForgetKeys), and so does STS refusing them.
const keysMaxAge = time.Hour

// keysRecheck bounds the wait of the timer that drops held keys: timers
// run on the monotonic clock, which stands still while a laptop sleeps,
// so one timer of keysMaxAge would hold keys read before a sleep for
// keysMaxAge of waking time.
const keysRecheck = 5 * time.Minute

// heldKeys are long-term keys read from the keychain, and when.
type heldKeys struct {
	creds aws.Credentials
	read  time.Time
}

// heldFor is how long keys read at read have been held at now, on the wall
// clock: the monotonic clock does not count a laptop's sleep. A clock set
// back counts as the keys' whole age, so they are read again.
func heldFor(now, read time.Time) time.Duration {
	d := now.Round(0).Sub(read.Round(0))
	if d < 0 {
		return keysMaxAge
	}
	return d
}

// dropHeld forgets the keys of name read at read once they are
// keysMaxAge old on the wall clock, looking at most keysRecheck apart;
// keys read again since are left to their own read's timer.
func (b *Broker) dropHeld(name string, read time.Time) {
	wait := min(keysMaxAge-heldFor(b.cfg.Clock.Now(), read), keysRecheck)
	b.cfg.Clock.AfterFunc(wait, func() {
		b.keysMu.Lock()
		h, ok := b.held[name]
		again := ok && h.read.Equal(read)
		if again && heldFor(b.cfg.Clock.Now(), read) >= keysMaxAge {
			delete(b.held, name)
			again = false
		}
		b.keysMu.Unlock()
		if again {
			b.dropHeld(name, read)
		}
	})
}

// longTerm returns the keys of p's source profile, read from the keychain
// at most once per keysMaxAge.
func (b *Broker) longTerm(ctx context.Context, p profile.Plan) (aws.Credentials, error) {
	name := p.Source.Name
	now := b.cfg.Clock.Now()
	b.keysMu.Lock()
	h, ok := b.held[name]
	b.keysMu.Unlock()
	if ok && heldFor(now, h.read) < keysMaxAge {
		return h.creds, nil
	}
	k, err := b.keys.Keys(ctx, name)
	if err != nil {
		ke := &keysError{profile: name, listed: p.Listed, err: err}
		if errors.Is(err, keychain.ErrNotFound) {
			b.mistypedSource(ctx, p, ke)
			b.misspeltSetting(p, ke)
		}
		return aws.Credentials{}, ke
	}
	c := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Source: "brokerd keychain"}
	b.keysMu.Lock()
	if b.held == nil {
		b.held = map[string]heldKeys{}
	}
	b.held[name] = heldKeys{c, now}
	b.keysMu.Unlock()
	// Dropped an hour on, if not read again by then: a profile no longer
	// used does not keep its keys in memory.
	b.dropHeld(name, now)
	return c, nil
}

// keyLister lists the profiles with keys in the keychain; *keychain.Store
// implements it. A Keys without it has mistyped source_profile names
// looked for among the config file's profiles alone.
type keyLister interface {
	Profiles(ctx context.Context) ([]string, error)
}

var _ keyLister = (*keychain.Store)(nil)

// mistypedSource fills in ke for a plan p whose source has no keys, when
// that source is a source_profile that names neither a profile of the
// config file nor one with keys, yet is near one that does: the role that
// names it, the name it likely meant and the config file.
func (b *Broker) mistypedSource(ctx context.Context, p profile.Plan, ke *keysError) {
	if len(p.Chain) == 0 {
		return
	}
	cfg, err := b.Profiles()
	if err != nil {
		return
	}
	if _, err := cfg.Get(p.Source.Name); !errors.Is(err, profile.ErrNotFound) {
		return // a profile of its own, whose keys were not added yet
	}
	candidates := cfg.Names()
	if l, ok := b.keys.(keyLister); ok {
		if names, err := l.Profiles(ctx); err == nil {
			candidates = append(candidates, names...)
		}
	}
	if near := suggest.Closest(p.Source.Name, candidates); near != "" {
		// The innermost role is the one whose source_profile names it.
		ke.role, ke.near, ke.config = p.Chain[0].Name, near, cfg.Path
	}
}

// credentialSettings are the settings brokerd reads for credentials, with
// the value a profile holds: a source profile that lacks keys and one of
// these, yet sets a close misspelling of it, likely meant it. Settings
// marked elsewhere get the credentials from elsewhere than keys: fixing
// such a typo is all it takes.
var credentialSettings = []struct {
	name      string
	elsewhere bool
	value     func(profile.Profile) string
}{
	{"role_arn", true, func(p profile.Profile) string { return p.RoleARN }},
	{"sso_session", true, func(p profile.Profile) string { return p.SSOSession }},
	{"sso_start_url", true, func(p profile.Profile) string { return p.SSOStartURL }},
	{"sso_region", true, func(p profile.Profile) string { return p.SSORegion }},
	{"sso_account_id", true, func(p profile.Profile) string { return p.SSOAccountID }},
	{"sso_role_name", true, func(p profile.Profile) string { return p.SSORoleName }},
	{"credential_process", true, func(p profile.Profile) string { return p.CredentialProcess }},
	{"credential_source", true, func(p profile.Profile) string { return unsupported(p, "credential_source") }},
	{"web_identity_token_file", true, func(p profile.Profile) string { return unsupported(p, "web_identity_token_file") }},
	{"source_profile", false, func(p profile.Profile) string { return p.SourceProfile }},
	{"mfa_serial", false, func(p profile.Profile) string { return p.MFASerial }},
	{"mfa_process", false, func(p profile.Profile) string { return p.MFAProcess }},
	{"external_id", false, func(p profile.Profile) string { return p.ExternalID }},
	{"role_session_name", false, func(p profile.Profile) string { return p.RoleSessionName }},
	{"duration_seconds", false, func(p profile.Profile) string {
		if p.Duration == 0 {
			return ""
		}
		return p.Duration.String()
	}},
}

// unsupported returns key when p sets that unsupported credential setting.
func unsupported(p profile.Profile, key string) string {
	if slices.Contains(p.Unsupported, key) {
		return key
	}
	return ""
}

// misspeltSetting fills in ke for a plan p whose source, a profile of the
// config file, has no keys, when that profile sets a close misspelling of
// a credential setting it lacks: the typo, the setting it likely meant and
// the config file. Keys in the keychain make such a typo harmless, so it
// is looked for only once they are missing.
func (b *Broker) misspeltSetting(p profile.Plan, ke *keysError) {
	if len(p.Source.Unknown) == 0 || ke.near != "" {
		return
	}
	for _, s := range credentialSettings {
		if s.value(p.Source) != "" {
			continue
		}
		if typo := p.Source.Misspelling(s.name); typo != "" {
			cfg, err := b.Profiles()
			if err != nil {
				return
			}
			ke.typo, ke.meant, ke.elsewhere, ke.config = typo, s.name, s.elsewhere, cfg.Path
			return
		}
	}
}

// ForgetKeys drops the long-term keys held in memory for the named source
// profile, or for all with no name, so that the next fetch reads the
// keychain.
func (b *Broker) ForgetKeys(names ...string) {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	if len(names) == 0 {
		b.held = nil
	}
	for _, n := range names {
		delete(b.held, n)
	}
}
