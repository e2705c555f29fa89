package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/sso"
)

// The daemon's store of SSO tokens is the keychain's, or memory.
var (
	_ sso.Store = keychain.SSOTokens{}
	_ sso.Store = (*memTokens)(nil)
)

// memTokens keeps SSO tokens in memory, for a daemon configured without a
// keychain for them: they are gone when it stops.
type memTokens struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (m *memTokens) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.blobs[key]), nil
}

func (m *memTokens) Set(_ context.Context, key string, blob []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blobs == nil {
		m.blobs = map[string][]byte{}
	}
	m.blobs[key] = slices.Clone(blob)
	return nil
}

func (m *memTokens) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, key)
	return nil
}

// ssoTarget is the IAM Identity Center session a login names.
type ssoTarget struct {
	name    string // what brokerd login takes: the session, or a legacy form's profile
	session sso.Session
}

// loginTarget is a name that a login, its needs, a logout or a sign-in
// takes, resolved once: the IAM Identity Center session it signs in to,
// or else the profile whose MFA session it opens or closes.
type loginTarget struct {
	sso  *ssoTarget   // the session signed in to; nil for an MFA profile
	plan profile.Plan // the MFA profile's, when sso is nil
}

// resolveLogin resolves name (empty: the default profile) once: to the IAM
// Identity Center session it signs in to, which is an [sso-session NAME]
// the config file has and no profile of that name, or the session of an
// SSO profile or of the source of a role; or else to the plan of a
// profile of another kind.
func (s *service) resolveLogin(name string) (loginTarget, error) {
	name = cmp.Or(name, s.defaultProfile)
	if name == "" {
		return loginTarget{}, &fault.Error{Kind: fault.InvalidInput, Code: "NoProfile", Message: "name the profile or sso-session, e.g. brokerd login my-sso"}
	}
	if err := checkName(name); err != nil {
		return loginTarget{}, err
	}
	cfg, err := s.broker.Profiles()
	if err != nil {
		return loginTarget{}, fault.Wrap(fault.InvalidConfig, err)
	}
	if _, gerr := cfg.Get(name); errors.Is(gerr, profile.ErrNotFound) {
		if sess, err := cfg.SSOSession(name); err == nil {
			if sess.StartURL == "" || sess.Region == "" {
				return loginTarget{}, incomplete(name, cfg.Path)
			}
			return loginTarget{sso: &ssoTarget{name: name, session: sso.Session{Name: sess.Name, StartURL: sess.StartURL, Region: sess.Region, Scopes: sess.Scopes}}}, nil
		}
	}
	p, err := s.broker.Plan(name)
	if err != nil {
		return loginTarget{}, err
	}
	if p.Kind != profile.KindSSO {
		return loginTarget{plan: p}, nil
	}
	return loginTarget{sso: &ssoTarget{name: p.LoginName(), session: broker.SSOSession(p)}}, nil
}

// noCode refuses an MFA code given for name, which signs in to t's
// session in the browser.
func (t ssoTarget) noCode(name string) error {
	what := t.name
	if name != "" && name != t.name {
		what = fmt.Sprintf("profile %s (IAM Identity Center session %s)", name, t.name)
	}
	return fault.New(fault.InvalidInput, "%s signs in to IAM Identity Center in the browser, not with an MFA code: run brokerd login %s without --code", what, t.name)
}

// incomplete says what an [sso-session NAME] without a start URL or
// region needs.
func incomplete(name, path string) error {
	return fault.New(fault.InvalidConfig, "[sso-session %s] in %s needs sso_start_url and sso_region: add them", name, path)
}

// needs is what LoginNeeds says of an SSO login.
func (t ssoTarget) needs() control.LoginNeeds {
	return control.LoginNeeds{Profile: t.name, Kind: "sso", SSOSession: t.name, SSOStartURL: t.session.StartURL}
}

// SSOLogin starts a device authorization for the session of name, and
// waits for its token in a goroutine the daemon owns. A login for the same
// session replaces one under way.
func (s *service) SSOLogin(ctx context.Context, name string) (control.SSOLogin, error) {
	lt, err := s.resolveLogin(name)
	if err != nil {
		return control.SSOLogin{}, err
	}
	if lt.sso == nil {
		return control.SSOLogin{}, fault.New(fault.InvalidInput, "profile %q does not use IAM Identity Center: run brokerd login %s for its MFA session", name, name)
	}
	t := *lt.sso
	if s.sso == nil {
		return control.SSOLogin{}, fault.New(fault.Unsupported, "this brokerd was started without IAM Identity Center")
	}
	l, err := s.sso.StartLogin(ctx, t.session)
	if err != nil {
		return control.SSOLogin{}, ssoFault(t.name, err)
	}
	id, err := s.logins.start(l, t, s.clock, func(err error) {
		if err == nil {
			// Requests held on LoginRequired may go through now.
			s.cache.Retry()
		}
	})
	if err != nil {
		return control.SSOLogin{}, err
	}
	return control.SSOLogin{ID: id, Session: t.name, StartURL: t.session.StartURL, VerificationURI: l.VerificationURI,
		VerificationURIComplete: l.VerificationURIComplete, UserCode: l.UserCode, Expires: l.Expires}, nil
}

// SSOWait waits for a sign-in to end, at most control.MaxSSOWait.
func (s *service) SSOWait(ctx context.Context, w control.SSOWait) (control.SSOWaitResult, error) {
	d := min(time.Duration(max(w.Seconds, 0))*time.Second, control.MaxSSOWait)
	l, err := s.logins.wait(ctx, w.ID, d, s.clock)
	if err != nil || l == nil {
		return control.SSOWaitResult{}, err
	}
	return control.SSOWaitResult{Done: true, Session: s.ssoSessionStatus(ctx, l.target, s.ssoProfiles(l.target))}, nil
}

// ssoProfiles lists the profiles that sign in through t's session, as
// status lists them; none when the config file does not load.
func (s *service) ssoProfiles(t ssoTarget) []string {
	cfg, err := s.broker.Profiles()
	if err != nil {
		return nil
	}
	var names []string
	for _, name := range cfg.Names() {
		if t.serves(cfg, name) {
			names = append(names, name)
		}
	}
	return names
}

// serves reports whether profile name of cfg signs in through t's session.
func (t ssoTarget) serves(cfg *profile.Config, name string) bool {
	p, err := cfg.Plan(name)
	return err == nil && p.Kind == profile.KindSSO && broker.SSOSession(p).Key() == t.session.Key()
}

// ssoLogout signs out of t's session and drops the credentials of its
// profiles; a sign-in under way for it ends too.
func (s *service) ssoLogout(ctx context.Context, t ssoTarget) (string, error) {
	s.logins.cancel(t.session.Key())
	var err error
	if s.sso != nil {
		err = s.sso.Logout(ctx, t.session)
	}
	cfg, cerr := s.broker.Profiles()
	s.cache.Forget(func(name string) bool {
		if cerr != nil {
			return true
		}
		return t.serves(cfg, name)
	})
	if errors.Is(err, sso.ErrStillSignedInAtPortal) {
		// Not "try again": the tokens it would take are gone.
		return t.name, &fault.Error{Kind: fault.STSUnavailable, Code: "SSOUnavailable", Err: err,
			Message: fmt.Sprintf("brokerd removed the tokens of %s, but could not reach IAM Identity Center to end the sign-in there (%v): to end it now, sign out of the AWS access portal at %s",
				t.name, err, t.session.StartURL)}
	}
	if err != nil {
		return t.name, ssoFault(t.name, err)
	}
	s.log.Info("signed out of sso session", zap.String("session", t.name))
	return t.name, nil
}

// ssoStatus lists the IAM Identity Center sessions of cfg: every
// [sso-session NAME] and the legacy sessions of profiles, with the
// profiles that use each and how their token stands.
func (s *service) ssoStatus(ctx context.Context, cfg *profile.Config) []control.SSOSession {
	type entry struct {
		t        ssoTarget
		profiles []string
	}
	byKey := map[string]*entry{}
	var keys []string
	add := func(t ssoTarget) *entry {
		k := t.session.Key()
		if e := byKey[k]; e != nil {
			return e
		}
		e := &entry{t: t}
		byKey[k] = e
		keys = append(keys, k)
		return e
	}
	for _, name := range cfg.SSOSessionNames() {
		sess, _ := cfg.SSOSession(name)
		add(ssoTarget{name: name, session: sso.Session{Name: sess.Name, StartURL: sess.StartURL, Region: sess.Region, Scopes: sess.Scopes}})
	}
	for _, name := range cfg.Names() {
		if p, err := cfg.Plan(name); err == nil && p.Kind == profile.KindSSO {
			e := add(ssoTarget{name: p.LoginName(), session: broker.SSOSession(p)})
			e.profiles = append(e.profiles, name)
		}
	}
	out := make([]control.SSOSession, 0, len(keys))
	for _, k := range keys {
		e := byKey[k]
		st := s.ssoSessionStatus(ctx, e.t, e.profiles)
		if e.t.session.StartURL == "" || e.t.session.Region == "" {
			// Not "not signed in: brokerd login NAME", which refuses it.
			st.Error = incomplete(e.t.name, cfg.Path).Error()
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b control.SSOSession) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ssoStatusWait bounds the read (and maybe refresh) of one session's token
// for status.
const ssoStatusWait = 2 * time.Second

// ssoSessionStatus says how t's token stands, without the token.
func (s *service) ssoSessionStatus(ctx context.Context, t ssoTarget, profiles []string) control.SSOSession {
	// Refreshable comes from the stored token: the service gives a refresh
	// token to clients that registered scopes (a named session does), and
	// takes it back when it ends the session.
	st := control.SSOSession{Name: t.name, StartURL: t.session.StartURL, Region: t.session.Region, Profiles: profiles}
	if s.sso == nil || t.session.StartURL == "" || t.session.Region == "" {
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, ssoStatusWait)
	defer cancel()
	tok, err := s.sso.Token(ctx, t.session)
	switch {
	case err == nil:
		st.SignedIn, st.Expires, st.Refreshable = true, &tok.Expires, tok.Refreshable
		if tok.InMemoryOnly {
			// Signed in, with a warning, in Error, which doctor shows.
			st.Error = "held only in memory: the keychain refused the refreshed token; unlock the keychain " +
				"(brokerd stores the token at its next use), or a restart of brokerd will need brokerd login " + t.name
		}
	case !errors.Is(err, sso.ErrLoginRequired):
		st.Error = ssoFault(t.name, err).Error()
	}
	return st
}

// ssoFault turns a failure of a sign-in, or of reading a session's token,
// into a *fault.Error that says what to do.
func ssoFault(name string, err error) error {
	var fe *fault.Error
	var api smithy.APIError
	var netErr net.Error
	switch {
	case errors.As(err, &fe):
		return err
	case errors.Is(err, sso.ErrLoginRequired):
		return &fault.Error{Kind: fault.LoginRequired, Err: err, Message: fmt.Sprintf("%v: run: brokerd login %s", err, name)}
	case errors.Is(err, sso.ErrCodeExpired):
		return &fault.Error{Kind: fault.LoginRequired, Code: "SignInExpired", Err: err,
			Message: fmt.Sprintf("the sign-in code expired before it was approved: run brokerd login %s again", name)}
	case errors.Is(err, sso.ErrDenied):
		return &fault.Error{Kind: fault.Refused, Code: "SignInDenied", Err: err,
			Message: fmt.Sprintf("the sign-in to %s was refused in the browser: run brokerd login %s again to retry", name, name)}
	case errors.Is(err, keychain.ErrLocked):
		return &fault.Error{Kind: fault.KeychainLocked, Err: err}
	case errors.Is(err, keychain.ErrUnavailable), errors.Is(err, keychain.ErrTimeout):
		return &fault.Error{Kind: fault.KeychainUnavailable, Err: err}
	case errors.As(err, &netErr), errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer, errors.Is(err, context.DeadlineExceeded):
		return &fault.Error{Kind: fault.STSUnavailable, Code: "SSOUnavailable", Err: err,
			Message: fmt.Sprintf("cannot reach IAM Identity Center for %s (%v): check the network and try again", name, err)}
	case errors.Is(err, context.Canceled):
		return &fault.Error{Kind: fault.Cancelled, Err: err}
	}
	return &fault.Error{Kind: fault.Internal, Err: err}
}

// ssoLogins are the sign-ins under way, each waited for in a goroutine
// the daemon owns until it ends, a newer sign-in for its session replaces
// it, or the daemon stops (close).
type ssoLogins struct {
	ctx  context.Context // ends at close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	byID   map[string]*ssoLogin
	latest map[string]*ssoLogin // by session key
}

// ssoLogin is one sign-in.
type ssoLogin struct {
	id     string
	target ssoTarget
	cancel context.CancelFunc
	done   chan struct{} // closed when it ended, err then set
	err    error
	ended  time.Time
}

// keepEnded is how long the outcome of a sign-in is kept for its waiter.
const keepEnded = 10 * time.Minute

func newSSOLogins() *ssoLogins {
	ctx, stop := context.WithCancel(context.Background())
	return &ssoLogins{ctx: ctx, stop: stop, byID: map[string]*ssoLogin{}, latest: map[string]*ssoLogin{}}
}

// start waits for l's token in a new goroutine, replacing the sign-in of
// the same session under way, and calls ended with the outcome.
func (ls *ssoLogins) start(l *sso.Login, t ssoTarget, clock clockwork.Clock, ended func(error)) (string, error) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return "", fault.New(fault.Cancelled, "brokerd is stopping: run brokerd login %s again once it runs", t.name)
	}
	now := clock.Now()
	for k, old := range ls.byID {
		if !old.ended.IsZero() && now.Sub(old.ended) > keepEnded {
			delete(ls.byID, k)
		}
	}
	key := t.session.Key()
	if old := ls.latest[key]; old != nil {
		old.cancel()
	}
	ctx, cancel := context.WithCancel(ls.ctx)
	lg := &ssoLogin{id: id, target: t, cancel: cancel, done: make(chan struct{})}
	ls.byID[id], ls.latest[key] = lg, lg
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		defer cancel()
		err := l.Wait(ctx)
		if err != nil && ctx.Err() != nil && ls.ctx.Err() == nil {
			err = fault.New(fault.Cancelled, "a newer brokerd login %s replaced this sign-in, or a logout ended it", t.name)
		}
		ls.mu.Lock()
		lg.err, lg.ended = err, clock.Now()
		if ls.latest[key] == lg {
			delete(ls.latest, key)
		}
		ls.mu.Unlock()
		// Before the waiters hear of it: a request made as soon as
		// brokerd login returns must not meet the LoginRequired held
		// from before.
		ended(err)
		close(lg.done)
	}()
	return id, nil
}

// wait waits up to d for sign-in id to end: it returns the sign-in when it
// succeeded, nil and no error while it goes on, or why it failed.
func (ls *ssoLogins) wait(ctx context.Context, id string, d time.Duration, clock clockwork.Clock) (*ssoLogin, error) {
	ls.mu.Lock()
	lg := ls.byID[id]
	ls.mu.Unlock()
	if lg == nil {
		return nil, &fault.Error{Kind: fault.NotFound, Code: "NoSignIn", Message: "brokerd has no such sign-in under way (it restarted, or the sign-in ended long ago): run brokerd login again"}
	}
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-lg.done:
	case <-t.Chan():
		return nil, nil
	case <-ctx.Done():
		// The one waiting went away (Ctrl-C on brokerd login, which
		// always waits): the sign-in ends with it, so that approving its
		// code later signs nobody in, as with the aws CLI.
		lg.cancel()
		return nil, fault.Wrap(fault.Cancelled, ctx.Err())
	}
	if lg.err != nil {
		if ls.ctx.Err() != nil {
			return nil, fault.New(fault.Cancelled, "brokerd stopped before the sign-in ended: run brokerd login %s again once it runs", lg.target.name)
		}
		return nil, ssoFault(lg.target.name, lg.err)
	}
	return lg, nil
}

// cancel ends the sign-in under way for the session key, if any.
func (ls *ssoLogins) cancel(key string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if lg := ls.latest[key]; lg != nil {
		lg.cancel()
	}
}

// close ends every sign-in under way and waits for their goroutines.
func (ls *ssoLogins) close() {
	ls.mu.Lock()
	ls.closed = true
	ls.mu.Unlock()
	ls.stop()
	ls.wg.Wait()
}
