package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
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

// sessionMinLeft is the least time left for a session to be used.
const sessionMinLeft = time.Minute

// ErrLoginRequired means a profile needs an MFA session and has no valid one.
var ErrLoginRequired = errors.New("MFA login required")

// loginError says which source profile needs a login, and why.
type loginError struct {
	source  string
	expired time.Time // zero when there never was a session
}

func (e *loginError) Error() string {
	if e.expired.IsZero() {
		return fmt.Sprintf("profile %q has no MFA session", e.source)
	}
	return fmt.Sprintf("the MFA session of profile %q expired at %s", e.source, e.expired.Local().Format(time.DateTime))
}

func (e *loginError) Unwrap() error { return ErrLoginRequired }

// mfaSerial is the MFA device that signs for src and chain, read as the
// SDKs read it: the role's mfa_serial, else its source profile's.
func mfaSerial(src profile.Profile, chain []profile.Profile) string {
	for i := len(chain) - 1; i >= 0; i-- {
		if chain[i].MFASerial != "" {
			return chain[i].MFASerial
		}
	}
	return src.MFASerial
}

func sessionCredentials(s keychain.Session) aws.Credentials {
	return aws.Credentials{
		AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken,
		CanExpire: true, Expires: s.Expires, Source: "brokerd MFA session",
	}
}

// session returns the valid MFA session of the source profile, from memory
// or, after a restart, from the keychain. It never waits on a person: with
// no valid session it returns an error wrapping ErrLoginRequired.
func (b *Broker) session(ctx context.Context, source string) (keychain.Session, error) {
	b.mu.Lock()
	s, ok := b.sessions[source]
	gen, out := b.gen[source], b.loggedOut[source]
	b.mu.Unlock()
	if !ok && !out && b.cfg.Sessions != nil {
		var err error
		s, err = b.cfg.Sessions.Session(ctx, source)
		if errors.Is(err, keychain.ErrNotFound) {
			return keychain.Session{}, &loginError{source: source}
		}
		if err != nil {
			return keychain.Session{}, err
		}
		b.mu.Lock()
		if b.gen[source] == gen {
			if _, kept := b.sessions[source]; !kept {
				b.sessions[source] = s
			}
			ok = true
		} else {
			// A login or logout happened while reading: what it left
			// in memory wins over what was read.
			s, ok = b.sessions[source]
		}
		b.mu.Unlock()
	}
	if !ok {
		return keychain.Session{}, &loginError{source: source}
	}
	if s.Expires.Sub(b.cfg.Now()) < sessionMinLeft {
		return keychain.Session{}, &loginError{source: source, expired: s.Expires}
	}
	return s, nil
}

// LoginSource returns the source profile that a login for name opens a
// session for: name itself, or the source of the role name.
func (b *Broker) LoginSource(ctx context.Context, name string) (string, error) {
	src, _, err := b.resolve(ctx, name)
	if err != nil {
		return "", classify(name, err)
	}
	return src.Name, nil
}

// Login opens an MFA session for the source of profile name with an MFA
// code, lasting d, and keeps it in memory and in the keychain. A keychain
// failure leaves the session in memory and is returned as warning.
// Errors are *Error.
func (b *Broker) Login(ctx context.Context, name, code string, d time.Duration) (s keychain.Session, warning error, err error) {
	if d < MinSessionDuration || d > MaxSessionDuration {
		return keychain.Session{}, nil, &Error{Status: 400, Code: "InvalidDuration",
			Message: fmt.Sprintf("session duration %s is out of range: STS allows MFA sessions from 15m to 36h", d)}
	}
	s, err = b.login(ctx, name, code, d)
	if err != nil {
		return keychain.Session{}, nil, classify(name, err)
	}
	return s, b.keep(ctx, name, s), nil
}

func (b *Broker) login(ctx context.Context, name, code string, d time.Duration) (keychain.Session, error) {
	src, chain, err := b.resolve(ctx, name)
	if err != nil {
		return keychain.Session{}, err
	}
	serial := mfaSerial(src, chain)
	if serial == "" {
		serial, err = b.anyMFASerial(src.Name)
		if err != nil {
			return keychain.Session{}, err
		}
	}
	keys, err := b.keys.Keys(ctx, src.Name)
	if err != nil {
		return keychain.Session{}, &keysError{profile: src.Name, err: err}
	}
	client, err := b.stsClient(ctx, src, src, credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, Source: "brokerd keychain"})
	if err != nil {
		return keychain.Session{}, err
	}
	out, err := client.GetSessionToken(ctx, &sts.GetSessionTokenInput{
		DurationSeconds: aws.Int32(int32(d / time.Second)),
		SerialNumber:    aws.String(serial),
		TokenCode:       aws.String(code),
	})
	if err != nil {
		return keychain.Session{}, &stsError{op: "GetSessionToken", profile: src, signer: src.Name, mfa: true, err: err}
	}
	c := out.Credentials
	return keychain.Session{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expires:         aws.ToTime(c.Expiration),
		MFASerial:       serial,
	}, nil
}

// anyMFASerial finds the mfa_serial of a role that uses source, for a login
// to a source profile that names none itself.
func (b *Broker) anyMFASerial(source string) (string, error) {
	cfg, err := b.Profiles()
	if err != nil {
		return "", err
	}
	for _, n := range cfg.Names() {
		if src, chain, err := cfg.Source(n); err == nil && src.Name == source {
			if s := mfaSerial(src, chain); s != "" {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("profile %q has no mfa_serial, nor does any role that uses it: add mfa_serial = arn:aws:iam::ACCOUNT:mfa/DEVICE to [profile %s] in %s", source, source, cfg.Path)
}

// keep stores s as the session of name's source, in memory and keychain.
func (b *Broker) keep(ctx context.Context, name string, s keychain.Session) error {
	source, err := b.LoginSource(ctx, name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.sessions[source] = s
	b.warned[source] = false
	b.gen[source]++
	delete(b.loggedOut, source)
	b.mu.Unlock()
	b.log.Info("MFA session opened", zap.String("profile", source), zap.String("mfa_serial", s.MFASerial), zap.Time("expires", s.Expires))
	if b.cfg.Sessions == nil {
		return nil
	}
	if err := b.cfg.Sessions.SetSession(ctx, source, s); err != nil {
		return fmt.Errorf("the session works until brokerd stops, but could not be kept in the keychain: %w", err)
	}
	return nil
}

// Logout forgets the MFA session of source, in the keychain and then in
// memory, unless a login replaced it meanwhile. If the keychain delete
// fails, the session is still forgotten in memory and not read from the
// keychain again until a login, and the error is returned as *Error.
func (b *Broker) Logout(ctx context.Context, source string) error {
	b.mu.Lock()
	gen := b.gen[source]
	b.mu.Unlock()
	var err error
	if b.cfg.Sessions != nil {
		err = b.cfg.Sessions.DeleteSession(ctx, source)
	}
	// Only now, with the keychain item gone, may memory be cleared: a
	// lookup in between would have read the item back into memory. A
	// login that finished meanwhile keeps its session.
	b.mu.Lock()
	if b.gen[source] == gen {
		delete(b.sessions, source)
		delete(b.warned, source)
		b.gen[source]++
		b.loggedOut[source] = true
	}
	b.mu.Unlock()
	if err != nil {
		return classify(source, fmt.Errorf("delete the MFA session of profile %q from the keychain: %w", source, err))
	}
	b.log.Info("MFA session closed", zap.String("profile", source))
	return nil
}

// LoadSessions reads the stored sessions of sources into memory, so that
// status shows them after a restart. Failures are logged, not returned: a
// session is read again when a request needs it.
func (b *Broker) LoadSessions(ctx context.Context, sources []string) {
	for _, src := range sources {
		if _, err := b.session(ctx, src); err != nil && !errors.Is(err, ErrLoginRequired) {
			b.log.Warn("read MFA session", zap.String("profile", src), zap.Error(err))
		}
	}
}

// SessionInfo describes an MFA session without its secrets.
type SessionInfo struct {
	Profile   string
	MFASerial string
	Expires   time.Time
}

// Sessions lists the MFA sessions in memory, expired ones included.
func (b *Broker) Sessions() []SessionInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SessionInfo, 0, len(b.sessions))
	for name, s := range b.sessions {
		out = append(out, SessionInfo{Profile: name, MFASerial: s.MFASerial, Expires: s.Expires})
	}
	return out
}

// WarnExpiring logs a warning, once per session, when an MFA session has
// less than 30 minutes left, or has expired.
func (b *Broker) WarnExpiring() {
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, s := range b.sessions {
		left := s.Expires.Sub(now)
		if left < 30*time.Minute && !b.warned[name] {
			b.warned[name] = true
			msg := "MFA session expires soon: run `brokerd login " + name + "` to renew it"
			if left <= 0 {
				// As when the daemon starts with yesterday's session.
				msg = "MFA session expired: run `brokerd login " + name + "` to open a new one"
			}
			b.log.Warn(msg, zap.String("profile", name), zap.Duration("left", left.Round(time.Second)), zap.Time("expires", s.Expires))
		}
	}
}
