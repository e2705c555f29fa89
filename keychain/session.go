package keychain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SessionService is the keychain service name of MFA sessions, kept apart
// from the long-term keys.
const SessionService = "brokerd-session"

// Session is an MFA session of a source profile: GetSessionToken
// credentials obtained with an MFA code.
type Session struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expires         time.Time `json:"Expiration"`
	MFASerial       string    `json:"MFASerial"`
}

// Session returns the MFA session stored for profile, expired or not. It
// returns an error wrapping ErrNotFound when there is none.
func (s *Store) Session(ctx context.Context, profile string) (Session, error) {
	var sess Session
	if err := s.getJSON(ctx, SessionService, profile, &sess); err != nil {
		return Session{}, fmt.Errorf("read MFA session of profile %q: %w", profile, err)
	}
	return sess, nil
}

// SetSession stores the MFA session of profile, replacing any other.
func (s *Store) SetSession(ctx context.Context, profile string, sess Session) error {
	if err := s.setJSON(ctx, SessionService, profile, sess); err != nil {
		return fmt.Errorf("store MFA session of profile %q: %w", profile, err)
	}
	return nil
}

// DeleteSession removes the MFA session of profile; none stored is no error.
func (s *Store) DeleteSession(ctx context.Context, profile string) error {
	err := s.write(ctx, SessionService, profile, func() error { return s.backend.Delete(SessionService, profile) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove MFA session of profile %q: %w", profile, err)
	}
	return nil
}
