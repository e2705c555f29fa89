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
}

// Session is an MFA session of a source profile, without its secrets.
type Session struct {
	Profile   string    `json:"profile"`
	MFASerial string    `json:"mfa_serial"`
	Expires   time.Time `json:"expires"`
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
	Kind          string     `json:"kind"` // "role" or "source"
	RoleARN       string     `json:"role_arn,omitempty"`
	SourceProfile string     `json:"source_profile,omitempty"`
	Expires       *time.Time `json:"expires,omitempty"`
	LastRefresh   *time.Time `json:"last_refresh,omitempty"`
	NextRefresh   *time.Time `json:"next_refresh,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

// Service is what the daemon does for the control API.
type Service interface {
	Status(ctx context.Context) (Status, error)
	// Refresh fetches new credentials for profile now.
	Refresh(ctx context.Context, profile string) error
	// Reload applies the config file as it is now to the cached
	// credentials.
	Reload(ctx context.Context) error
	// Login opens an MFA session.
	Login(ctx context.Context, l Login) (LoginResult, error)
	// Logout closes the MFA session of profile's source (empty: the default
	// profile's) and drops credentials derived from it; it returns the
	// source profile.
	Logout(ctx context.Context, profile string) (string, error)
}
