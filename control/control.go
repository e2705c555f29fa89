// Package control provides the local API between the brokerd command and
// its running daemon, spoken as HTTP over a Unix socket in the state
// directory (mode 0600 in a 0700 directory).
package control

import (
	"context"
	"time"
)

// Status is what the daemon reports about itself.
type Status struct {
	Endpoint       string    `json:"endpoint"`
	PID            int       `json:"pid"`
	Started        time.Time `json:"started"`
	DefaultProfile string    `json:"default_profile,omitempty"`
	Profiles       []Profile `json:"profiles"`
	Sessions       []Session `json:"sessions"`
	// SSOSessions are the IAM Identity Center sessions of the config file.
	SSOSessions []SSOSession `json:"sso_sessions,omitempty"`
	// Containers are the container tokens, live and of the last day.
	Containers []ContainerToken `json:"containers,omitempty"`
	// AuditDir is where the daemon writes its audit log, "" when it
	// writes none.
	AuditDir string `json:"audit_dir,omitempty"`
	// ConfigError says why the AWS config file cannot be used (it cannot
	// be read or parsed), "" when it can: every profile it names is
	// refused until then.
	ConfigError string `json:"config_error,omitempty"`
	// DefaultProfileMissing says that the default profile is neither in
	// the config file nor in the keychain, "" when it is (or the keychain
	// cannot say): SDKs that name no profile are refused ProfileNotFound.
	DefaultProfileMissing string `json:"default_profile_missing,omitempty"`
}

// Session is an MFA session of a source profile, without its secrets.
type Session struct {
	Profile   string    `json:"profile"`
	MFASerial string    `json:"mfa_serial"`
	Expires   time.Time `json:"expires"`
	// UsedUntil is when the daemon stops using the session, a margin
	// before Expires: the next login is due then. A daemon older than
	// the field sends none; read it with LoginDue.
	UsedUntil time.Time `json:"used_until,omitzero"`
}

// legacyMinLeft is how long before its end a daemon that sends no
// UsedUntil stops using a session: broker.SessionMinLeft of those
// daemons.
const legacyMinLeft = 70 * time.Second

// LoginDue is when the next login for s is due, when the daemon stops
// using it: UsedUntil, or 70 s before Expires from a daemon that sends no
// UsedUntil.
func (s Session) LoginDue() time.Time {
	if !s.UsedUntil.IsZero() {
		return s.UsedUntil
	}
	return s.Expires.Add(-legacyMinLeft)
}

// LoginNeeds is what a login for a profile needs, so that the CLI asks the
// person for exactly that without reading the AWS config itself.
type LoginNeeds struct {
	// Profile is the source profile whose session the login opens.
	Profile string `json:"profile"`
	// Kind is the kind of login: "mfa" takes a code from MFAProcess when
	// set, else from the person; "sso" signs in to the IAM Identity
	// Center session SSOSession (see SSOLogin).
	Kind        string `json:"kind"`
	MFASerial   string `json:"mfa_serial,omitempty"`
	MFAProcess  string `json:"mfa_process,omitempty"`
	SSOSession  string `json:"sso_session,omitempty"`
	SSOStartURL string `json:"sso_start_url,omitempty"`
}

// Login asks the daemon to open an MFA session.
type Login struct {
	// Profile is the source profile, or a role whose source is meant; empty
	// means the source of the daemon's default profile.
	Profile         string `json:"profile"`
	Code            string `json:"code"`
	DurationSeconds int    `json:"duration_seconds"`
}

// LoginResult is the session a login opened.
type LoginResult struct {
	Session
	// Warning tells of a problem that did not stop the login, such as a
	// locked keychain that could not keep the session.
	Warning string `json:"warning,omitempty"`
}

// Profile is the state of one profile's credentials.
type Profile struct {
	Name          string     `json:"name"`
	Kind          string     `json:"kind"` // "role", "source", "sso", or "invalid": the config file's, not servable as written (LastError says why)
	RoleARN       string     `json:"role_arn,omitempty"`
	SourceProfile string     `json:"source_profile,omitempty"`
	Expires       *time.Time `json:"expires,omitempty"`
	LastRefresh   *time.Time `json:"last_refresh,omitempty"`
	NextRefresh   *time.Time `json:"next_refresh,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

// KeysChange tells the daemon that the keychain's keys of a profile were
// added (or replaced) or removed.
type KeysChange struct {
	Profile string `json:"profile"`
	Removed bool   `json:"removed"`
}

// Resolved is a profile as the SDKs pointed at it see it.
type Resolved struct {
	// Profile is the profile served: the one asked for, or the daemon's
	// default profile when none was.
	Profile string `json:"profile"`
	// Region is the region for its SDKs (see region.Of); empty when
	// neither the profile nor its source sets one.
	Region string `json:"region,omitempty"`
}

// Names are the names the daemon knows, for the shell's completion: read
// without the keychain, whose read may ask the person to unlock it.
type Names struct {
	// Profiles are those of the config file, those served or with an MFA
	// session, and those the keychain held when the daemon last read it.
	Profiles []string `json:"profiles"`
	// SSOSessions are the config file's [sso-session NAME] sections.
	SSOSessions []string `json:"sso_sessions,omitempty"`
}

// Service is what the daemon does for the control API.
type Service interface {
	Status(ctx context.Context) (Status, error)
	// Names lists the profile and sso-session names the daemon knows,
	// without reading the keychain.
	Names(ctx context.Context) (Names, error)
	// Refresh fetches new credentials for profile now.
	Refresh(ctx context.Context, profile string) error
	// Reload applies the config file as it is now to the cached
	// credentials.
	Reload(ctx context.Context) error
	// LoginNeeds says what a login for profile (empty: the default
	// profile) needs.
	LoginNeeds(ctx context.Context, profile string) (LoginNeeds, error)
	// Login opens an MFA session.
	Login(ctx context.Context, l Login) (LoginResult, error)
	// Logout closes the MFA session of profile's source (empty: the default
	// profile's) and drops credentials derived from it; it returns the
	// source profile.
	Logout(ctx context.Context, profile string) (string, error)
	// KeysChanged drops what removed keys signed, or retries what failed
	// before new keys.
	KeysChanged(ctx context.Context, c KeysChange) error
	// SSOLogin starts a sign-in to the IAM Identity Center session of
	// name: a session, or a profile that uses one (empty: the default
	// profile's).
	SSOLogin(ctx context.Context, name string) (SSOLogin, error)
	// SSOWait waits, at most MaxSSOWait, for a sign-in to end.
	SSOWait(ctx context.Context, w SSOWait) (SSOWaitResult, error)
	// Console returns a URL that signs in to the AWS console.
	Console(ctx context.Context, c Console) (ConsoleURL, error)
	// Resolve says which profile name (empty: the default profile) serves
	// and its region, so the CLI sets up SDKs without reading the AWS
	// config itself. It fails with kind NotFound when neither the config
	// file nor the keychain has the profile.
	Resolve(ctx context.Context, name string) (Resolved, error)
}
