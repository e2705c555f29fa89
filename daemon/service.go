package daemon

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/sso"
	"github.com/brokerd/brokerd/state"
)

// service answers the control API.
type service struct {
	cache          *cache.Cache
	broker         *broker.Broker
	keys           Keychain
	clock          clockwork.Clock
	log            *zap.Logger
	started        time.Time
	endpoint       state.Endpoint
	defaultProfile string
	// IAM Identity Center (nil: SSO profiles are refused), its sign-ins
	// under way, and the federation endpoint of console sign-ins.
	sso           *sso.Client
	logins        *ssoLogins
	federationURL string
	// applied is the config file that the cached credentials follow
	// (nil when none loaded): an edit drops the profiles whose plan
	// changed. configMu makes a reload or an edit's load, comparison and
	// drop one step, so that two cannot interleave.
	configMu sync.Mutex
	applied  *profile.Config
	// sessionsLoaded is set once the MFA sessions kept in the keychain
	// were read into memory (see loadSessions).
	sessionsLoaded atomic.Bool
	// keyNames are the profiles with keys the keychain last listed.
	keyNames keyNames
}

var _ control.Service = (*service)(nil)

// checkName refuses a profile name that cannot exist, before any keychain
// or STS work.
func checkName(name string) error {
	if err := profile.CheckName(name); err != nil {
		return &fault.Error{Kind: fault.InvalidInput, Code: "InvalidProfileName", Message: err.Error(), Err: err}
	}
	return nil
}

// plan resolves name, or the default profile when name is empty.
func (s *service) plan(name string) (profile.Plan, error) {
	name = cmp.Or(name, s.defaultProfile)
	if name == "" {
		return profile.Plan{}, &fault.Error{Kind: fault.InvalidInput, Code: "NoProfile", Message: "name the profile, e.g. brokerd login dev"}
	}
	if err := checkName(name); err != nil {
		return profile.Plan{}, err
	}
	return s.broker.Plan(name)
}

func (s *service) Status(ctx context.Context) (control.Status, error) {
	// Empty lists, not null, in status --json.
	st := control.Status{Endpoint: s.endpoint.URL, PID: s.endpoint.PID, Started: s.started, DefaultProfile: s.defaultProfile,
		Profiles: []control.Profile{}, Sessions: []control.Session{}}
	byName := map[string]*control.Profile{}
	add := func(name string) *control.Profile {
		if p := byName[name]; p != nil {
			return p
		}
		p := &control.Profile{Name: name, Kind: "source"}
		byName[name] = p
		return p
	}
	// The config file and keychain name the profiles; either may fail
	// without hiding what the cache knows.
	if cfg, err := s.broker.Profiles(); err == nil {
		// The default profile too: the config file does not list a
		// profile it cannot read (profile.Config.Names).
		names := cfg.Names()
		if s.defaultProfile != "" && !slices.Contains(names, s.defaultProfile) {
			names = append(names, s.defaultProfile)
		}
		for _, name := range names {
			p, _ := cfg.Get(name)
			switch {
			case p.IsRole():
				sp := add(name)
				sp.Kind, sp.RoleARN, sp.SourceProfile = "role", p.RoleARN, p.SourceProfile
			case p.IsSSO():
				add(name).Kind = "sso"
			}
			// A profile that cannot be served as written (a misspelt
			// role_arn, credential_process, a source_profile loop) shows
			// why before anything asks for it, as its requests will say.
			if _, err := s.broker.Plan(name); err != nil && (fault.KindOf(err) == fault.InvalidConfig || fault.KindOf(err) == fault.Unsupported) {
				sp := add(name)
				if sp.Kind == "source" {
					sp.Kind = "invalid"
				}
				sp.LastError = err.Error()
			}
		}
		st.SSOSessions = s.ssoStatus(ctx, cfg)
	} else {
		st.ConfigError = err.Error()
	}
	if names, err := s.keyProfiles(ctx); err == nil {
		for _, n := range names {
			add(n)
		}
		s.loadSessions(ctx, names)
	}
	for _, cs := range s.cache.Statuses() {
		p := add(cs.Profile)
		if cs.RoleARN != "" {
			p.Kind, p.RoleARN = "role", cs.RoleARN
		}
		p.Expires, p.LastRefresh, p.NextRefresh = timePtr(cs.Expires), timePtr(cs.LastRefresh), timePtr(cs.NextRefresh)
		p.LastError = cmp.Or(cs.LastError, p.LastError)
	}
	if s.defaultProfile != "" {
		if _, err := s.Resolve(ctx, ""); fault.CodeOf(err) == "ProfileNotFound" {
			st.DefaultProfileMissing = err.Error()
		}
	}
	for _, si := range s.broker.Sessions() {
		st.Sessions = append(st.Sessions, controlSession(si.Profile, si.MFASerial, si.Expires))
	}
	slices.SortFunc(st.Sessions, func(a, b control.Session) int { return strings.Compare(a.Profile, b.Profile) })
	for _, p := range byName {
		st.Profiles = append(st.Profiles, *p)
	}
	slices.SortFunc(st.Profiles, func(a, b control.Profile) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// controlSession is the MFA session of profile as the control API shows
// it: without its secrets, and with when the daemon stops using it,
// broker.SessionMinLeft before it expires, which is when the next login is
// due.
func controlSession(profile, mfaSerial string, expires time.Time) control.Session {
	return control.Session{Profile: profile, MFASerial: mfaSerial, Expires: expires, UsedUntil: expires.Add(-broker.SessionMinLeft)}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *service) Refresh(ctx context.Context, profile string) error {
	if err := checkName(profile); err != nil {
		return err
	}
	_, err := s.cache.Refresh(ctx, profile)
	return err
}

func (s *service) LoginNeeds(ctx context.Context, name string) (control.LoginNeeds, error) {
	t, err := s.resolveLogin(name)
	if err != nil {
		return control.LoginNeeds{}, err
	}
	if t.sso != nil {
		return t.sso.needs(), nil
	}
	p := t.plan
	// What Login would refuse (no such profile, no MFA device) is refused
	// before anyone types a code, without reading a secret.
	if !s.known(ctx, p, false) {
		return control.LoginNeeds{}, broker.NotFound(p.Name)
	}
	serial, err := s.broker.MFADevice(p)
	if err != nil {
		return control.LoginNeeds{}, err
	}
	return control.LoginNeeds{Profile: p.Source.Name, Kind: "mfa", MFASerial: serial, MFAProcess: p.MFAProcess}, nil
}

func (s *service) Login(ctx context.Context, l control.Login) (control.LoginResult, error) {
	t, err := s.resolveLogin(l.Profile)
	if err == nil && t.sso != nil {
		return control.LoginResult{}, t.sso.noCode(l.Profile)
	}
	p := t.plan
	if err != nil {
		// A code is for an MFA profile: a name that resolves to no
		// target is refused as one (a missing name asks for a profile,
		// an incomplete [sso-session NAME] is a profile not found).
		if p, err = s.plan(l.Profile); err != nil {
			return control.LoginResult{}, err
		}
	}
	d, err := seconds("duration_seconds", l.DurationSeconds)
	if err != nil {
		return control.LoginResult{}, err
	}
	sess, warning, err := s.broker.Login(ctx, p, l.Code, d)
	if err != nil {
		return control.LoginResult{}, err
	}
	s.cache.Retry()
	res := control.LoginResult{Session: controlSession(p.Source.Name, sess.MFASerial, sess.Expires)}
	if warning != nil {
		res.Warning = warning.Error()
	}
	return res, nil
}

func (s *service) Logout(ctx context.Context, name string) (string, error) {
	t, err := s.resolveLogin(name)
	if err != nil {
		return "", err
	}
	if t.sso != nil {
		return s.ssoLogout(ctx, *t.sso)
	}
	p := t.plan
	// A name that is neither in the config file nor in the keychain, and
	// has no session (a typo), has no session to close: say so rather than
	// that it closed.
	if !s.known(ctx, p, true) {
		// Or the tokens of an sso-session renamed or removed since.
		if s.sso != nil {
			if found, err := s.sso.Forget(ctx, p.Name); found || err != nil {
				return p.Name, err
			}
		}
		return "", broker.NotFound(p.Name)
	}
	// Derived credentials go even when the keychain item could not be
	// deleted: the session is gone from memory either way.
	lerr := s.broker.Logout(ctx, p.Source.Name)
	s.forgetDerived(p.Source.Name)
	return p.Source.Name, lerr
}

// known reports whether p's source is a profile brokerd knows: in the
// config file, or with keys in the keychain, or (withSession) with an MFA
// session stored. It reads no secret; when the keychain cannot say, it
// reports true and leaves the refusal to what follows.
func (s *service) known(ctx context.Context, p profile.Plan, withSession bool) bool {
	if p.Listed {
		return true
	}
	names, err := s.keyProfiles(ctx)
	if err != nil || slices.Contains(names, p.Source.Name) {
		return true
	}
	if !withSession {
		return false
	}
	_, err = s.keys.Session(ctx, p.Source.Name)
	return !errors.Is(err, keychain.ErrNotFound)
}

// KeysChanged drops what removed keys signed, their MFA session included,
// or ends the retry windows after new keys, so failing profiles heal at
// their next request.
func (s *service) KeysChanged(ctx context.Context, c control.KeysChange) error {
	if err := checkName(c.Profile); err != nil {
		return err
	}
	s.broker.ForgetKeys(c.Profile)
	s.keysChangedName(c.Profile, c.Removed)
	if !c.Removed {
		s.cache.Retry()
		s.log.Info("keys changed", zap.String("profile", c.Profile))
		return nil
	}
	err := s.broker.Logout(ctx, c.Profile)
	s.forgetDerived(c.Profile)
	s.log.Info("keys removed: dropped the credentials they signed", zap.String("profile", c.Profile))
	return err
}

// forgetDerived drops the cached credentials that source's keys or session
// signed; without a readable config file, everything.
func (s *service) forgetDerived(source string) {
	cfg, err := s.broker.Profiles()
	s.cache.Forget(func(name string) bool {
		if name == source || err != nil {
			return true
		}
		p, perr := cfg.Plan(name)
		return perr != nil || p.Source.Name == source
	})
}

// loadSessions reads the MFA sessions of names, the profiles with keys,
// from the keychain into memory, until the keychain has answered for each:
// at boot it is locked until the desktop login, and until they are read
// status shows none and no expiry is warned of.
func (s *service) loadSessions(ctx context.Context, names []string) {
	if s.sessionsLoaded.Load() {
		return
	}
	if s.broker.LoadSessions(ctx, names) {
		s.sessionsLoaded.Store(true)
	}
}

// watchSessions loads the MFA sessions kept in the keychain, then warns of
// sessions about to expire, waking only when one is due, until ctx ends.
// A keychain locked at start is not read again from here: each read of a
// locked keychain asks the person to unlock it, so status, or a request
// for a role, reads the sessions once it is unlocked.
func (s *service) watchSessions(ctx context.Context) {
	if names, err := s.keyProfiles(ctx); err == nil {
		s.loadSessions(ctx, names)
	}
	for {
		next := s.broker.WarnExpiring()
		wait := maxSleep
		if !next.IsZero() {
			wait = min(max(next.Sub(s.clock.Now()), time.Second), maxSleep)
		}
		t := s.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		}
	}
}

// maxSleep bounds a timer's wait, since timers stop while a laptop sleeps.
const maxSleep = 5 * time.Minute

// seconds is n seconds of a control request's field as a Duration; an
// error when n is beyond a Duration's range, where the product would wrap
// around into one that passes the range checks.
func seconds(field string, n int) (time.Duration, error) {
	const most = int(math.MaxInt64 / int64(time.Second))
	if n > most || n < -most {
		return 0, fault.New(fault.InvalidInput, "%s %d is out of range: give a number of seconds, such as 3600", field, n)
	}
	return time.Duration(n) * time.Second, nil
}
