package broker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/wakepool"
)

// Sessions stores MFA sessions; *keychain.Store implements it.
type Sessions interface {
	Session(ctx context.Context, profile string) (keychain.Session, error)
	SetSession(ctx context.Context, profile string, s keychain.Session) error
	DeleteSession(ctx context.Context, profile string) error
}

var _ Sessions = (*keychain.Store)(nil)

// Session durations STS accepts for GetSessionToken of an IAM user.
const (
	MinSessionDuration = 15 * time.Minute
	MaxSessionDuration = 36 * time.Hour
)

// SessionMinLeft is the least time left for a session to be used: more
// than the cache serves credentials with, by a margin for the fetch that
// serves it, so that a session near its end is a login to make, not
// credentials the cache refuses as expired. A session with less left is
// due for a login.
const SessionMinLeft = creds.MinValid + 10*time.Second

// ErrLoginRequired means a profile needs an MFA session and has no valid one.
var ErrLoginRequired = errors.New("MFA login required")

// loginError says which source profile needs a login, and why.
type loginError struct {
	source  string
	expired time.Time // zero when there never was a session
	// ending is set when the session has not expired yet, but has less
	// than SessionMinLeft left.
	ending bool
}

func (e *loginError) Error() string {
	switch {
	case e.expired.IsZero():
		return fmt.Sprintf("profile %q has no MFA session", e.source)
	case e.ending:
		return fmt.Sprintf("the MFA session of profile %q ends at %s, too soon to be used", e.source, e.expired.Local().Format(time.DateTime))
	}
	return fmt.Sprintf("the MFA session of profile %q expired at %s", e.source, e.expired.Local().Format(time.DateTime))
}

func (e *loginError) Unwrap() error { return ErrLoginRequired }

// mfaSource starts from the MFA session of the plan's source profile,
// kept in memory and in the keychain.
type mfaSource struct {
	b *Broker

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

var _ Source = (*mfaSource)(nil)

func newMFASource(b *Broker) *mfaSource {
	return &mfaSource{b: b, sessions: map[string]keychain.Session{}, warned: map[string]bool{},
		gen: map[string]uint64{}, loggedOut: map[string]bool{}}
}

func (m *mfaSource) Credentials(ctx context.Context, p profile.Plan) (aws.Credentials, error) {
	s, err := m.session(ctx, p.Source.Name)
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{
		AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken,
		CanExpire: true, Expires: s.Expires, Source: "brokerd MFA session",
	}, nil
}

// session returns the valid MFA session of the source profile, from memory
// or, after a restart, from the keychain. It never waits on a person: with
// no valid session it returns an error wrapping ErrLoginRequired.
func (m *mfaSource) session(ctx context.Context, source string) (keychain.Session, error) {
	m.mu.Lock()
	s, ok := m.sessions[source]
	gen, out := m.gen[source], m.loggedOut[source]
	m.mu.Unlock()
	if !ok && !out && m.b.cfg.Sessions != nil {
		var err error
		s, err = m.b.cfg.Sessions.Session(ctx, source)
		if errors.Is(err, keychain.ErrNotFound) || errors.Is(err, keychain.ErrFormat) {
			// A damaged session is replaced by the login asked for.
			return keychain.Session{}, &loginError{source: source}
		}
		if err != nil {
			return keychain.Session{}, err
		}
		m.mu.Lock()
		if m.gen[source] == gen {
			if _, kept := m.sessions[source]; !kept {
				m.sessions[source] = s
			}
			ok = true
		} else {
			// A login or logout happened while reading: what it left
			// in memory wins over what was read.
			s, ok = m.sessions[source]
		}
		m.mu.Unlock()
	}
	if !ok {
		return keychain.Session{}, &loginError{source: source}
	}
	if left := s.Expires.Sub(m.b.cfg.Clock.Now()); left < SessionMinLeft {
		return keychain.Session{}, &loginError{source: source, expired: s.Expires, ending: left > 0}
	}
	return s, nil
}

var mfaCode = regexp.MustCompile(`^[0-9]{6}$`)

// Login opens an MFA session for the source of plan p with an MFA code,
// lasting d, and keeps it in memory and in the keychain. A keychain
// failure leaves the session in memory and is returned as warning.
// Errors are *fault.Error.
func (b *Broker) Login(ctx context.Context, p profile.Plan, code string, d time.Duration) (s keychain.Session, warning error, err error) {
	if d < MinSessionDuration || d > MaxSessionDuration {
		return keychain.Session{}, nil, &fault.Error{Kind: fault.InvalidInput, Code: "InvalidDuration",
			Message: fmt.Sprintf("session duration %s is out of range: STS allows MFA sessions from 15m to 36h", d)}
	}
	if !mfaCode.MatchString(code) {
		return keychain.Session{}, nil, &fault.Error{Kind: fault.InvalidInput, Code: "InvalidMFACode",
			Message: "the MFA code must be 6 digits: pass the code your MFA device shows now"}
	}
	s, err = b.login(ctx, p, code, d)
	if err != nil {
		return keychain.Session{}, nil, classify(p.Name, err)
	}
	return s, b.mfa.keep(ctx, p.Source.Name, s), nil
}

// MFADevice is the MFA device that signs a login to p: p's own, else that
// of a role that uses p's source. It reads the config file only, so that
// what a login would refuse for want of a device is refused before anyone
// types a code. Errors are *fault.Error.
func (b *Broker) MFADevice(p profile.Plan) (string, error) {
	serial, err := b.mfaDevice(p)
	if err != nil {
		return "", classify(p.Name, err)
	}
	return serial, nil
}

// mfaDevice is MFADevice, its error unclassified.
func (b *Broker) mfaDevice(p profile.Plan) (string, error) {
	if p.MFASerial != "" {
		return p.MFASerial, nil
	}
	return b.anyMFASerial(p.Source.Name)
}

func (b *Broker) login(ctx context.Context, p profile.Plan, code string, d time.Duration) (keychain.Session, error) {
	// The keys first: a profile that does not exist has none.
	long, err := b.longTerm(ctx, p)
	if err != nil {
		return keychain.Session{}, err
	}
	serial, err := b.mfaDevice(p)
	if err != nil {
		return keychain.Session{}, err
	}
	client, err := b.sts.get(ctx, p.Source, p.Source)
	if err != nil {
		return keychain.Session{}, err
	}
	// The code works once: it goes on a new connection, not one that may
	// have died unseen, and a slow answer is waited for, not given up for
	// dead and the code sent again.
	b.sts.close()
	out, err := client.GetSessionToken(wakepool.OnceOnly(ctx), &sts.GetSessionTokenInput{
		DurationSeconds: aws.Int32(int32(d / time.Second)),
		SerialNumber:    aws.String(serial),
		TokenCode:       aws.String(code),
	}, signed{client, long}.sign, codeOnce)
	if err != nil {
		return keychain.Session{}, &stsError{op: "GetSessionToken", profile: p.Source, signer: p.Source.Name, mfa: true, err: err}
	}
	c := stsCredentials(out.Credentials, "")
	return keychain.Session{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		SessionToken: c.SessionToken, Expires: c.Expires, MFASerial: serial}, nil
}

// codeOnce keeps a call that spends an MFA code from being sent again
// when its answer was cut while read: STS took the code, and refuses it a
// second time as invalid, which reads as a mistyped code. A signature
// refused for clock skew (STS did not look at the code) is still tried
// again, with the corrected time.
func codeOnce(o *sts.Options) { o.Retryer = twoAttempts(retry.RetryableError{}) }

// anyMFASerial finds the mfa_serial of a role that uses source, for a login
// to a source profile that names none itself.
func (b *Broker) anyMFASerial(source string) (string, error) {
	cfg, err := b.Profiles()
	if err != nil {
		return "", err
	}
	for _, n := range cfg.Names() {
		if p, err := cfg.Plan(n); err == nil && p.Source.Name == source && p.MFASerial != "" {
			return p.MFASerial, nil
		}
	}
	return "", fault.New(fault.InvalidConfig, "profile %q has no mfa_serial, nor does any role that uses it: add mfa_serial = arn:aws:iam::ACCOUNT:mfa/DEVICE to [profile %s] in %s", source, source, cfg.Path)
}

// keep stores s as the session of source, in memory and keychain.
func (m *mfaSource) keep(ctx context.Context, source string, s keychain.Session) error {
	m.mu.Lock()
	m.sessions[source] = s
	m.warned[source] = false
	m.gen[source]++
	delete(m.loggedOut, source)
	m.mu.Unlock()
	m.b.log.Info("MFA session opened", zap.String("profile", source), zap.String("mfa_serial", s.MFASerial), zap.Time("expires", s.Expires))
	if m.b.cfg.Sessions == nil {
		return nil
	}
	if err := m.b.cfg.Sessions.SetSession(ctx, source, s); err != nil {
		return fmt.Errorf("the session works until brokerd stops, but could not be kept in the keychain: %w", err)
	}
	return nil
}

// Logout forgets the MFA session of source, in the keychain and then in
// memory, unless a login replaced it meanwhile. If the keychain delete
// fails, the session is still forgotten in memory and not read from the
// keychain again until a login, and the error is returned as *fault.Error.
func (b *Broker) Logout(ctx context.Context, source string) error {
	m := b.mfa
	m.mu.Lock()
	gen := m.gen[source]
	m.mu.Unlock()
	var err error
	if b.cfg.Sessions != nil {
		err = b.cfg.Sessions.DeleteSession(ctx, source)
	}
	// Only now, with the keychain item gone, may memory be cleared: a
	// lookup in between would have read the item back into memory. A
	// login that finished meanwhile keeps its session.
	m.mu.Lock()
	if m.gen[source] == gen {
		delete(m.sessions, source)
		delete(m.warned, source)
		m.gen[source]++
		m.loggedOut[source] = true
	}
	m.mu.Unlock()
	if err != nil {
		return classify(source, fmt.Errorf("delete the MFA session of profile %q from the keychain: %w", source, err))
	}
	b.log.Info("MFA session closed", zap.String("profile", source))
	return nil
}

// LoadSessions reads the stored sessions of sources into memory, so that
// status shows them after a restart, and reports whether the keychain
// answered for each (a source without a session is answered). Failures
// are logged, not returned: a session is read again when a request needs
// it.
func (b *Broker) LoadSessions(ctx context.Context, sources []string) (read bool) {
	read = true
	for _, src := range sources {
		if _, err := b.mfa.session(ctx, src); err != nil && !errors.Is(err, ErrLoginRequired) {
			b.log.Warn("read MFA session", zap.String("profile", src), zap.Error(err))
			read = false
		}
	}
	return read
}

// SessionInfo describes an MFA session without its secrets.
type SessionInfo struct {
	Profile   string
	MFASerial string
	Expires   time.Time
}

// Sessions lists the MFA sessions in memory, expired ones included.
func (b *Broker) Sessions() []SessionInfo {
	m := b.mfa
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SessionInfo, 0, len(m.sessions))
	for name, s := range m.sessions {
		out = append(out, SessionInfo{Profile: name, MFASerial: s.MFASerial, Expires: s.Expires})
	}
	return out
}

// warnBefore is how long before its end a session's expiry is warned of.
const warnBefore = 30 * time.Minute

// WarnExpiring logs a warning, once per session, when an MFA session has
// less than 30 minutes left, or has expired. It returns when it should be
// called next: when the next session enters its last 30 minutes, or zero
// when no session will.
func (b *Broker) WarnExpiring() (next time.Time) {
	now := b.cfg.Clock.Now()
	m := b.mfa
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, s := range m.sessions {
		left := s.Expires.Sub(now)
		if left < warnBefore && !m.warned[name] {
			m.warned[name] = true
			msg := "MFA session expires soon: run `brokerd login " + name + "` to renew it"
			if left <= 0 {
				// As when the daemon starts with yesterday's session.
				msg = "MFA session expired: run `brokerd login " + name + "` to open a new one"
			}
			b.log.Warn(msg, zap.String("profile", name), zap.Duration("left", left.Round(time.Second)), zap.Time("expires", s.Expires))
		}
		if at := s.Expires.Add(-warnBefore); !m.warned[name] && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}
