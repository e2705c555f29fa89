package daemon

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/state"
)

// service answers the control API.
type service struct {
	cache          *cache.Cache
	broker         *broker.Broker
	keys           Keychain
	started        time.Time
	endpoint       state.Endpoint
	defaultProfile string
}

var _ control.Service = (*service)(nil)

func (s *service) Status(ctx context.Context) (control.Status, error) {
	st := control.Status{Endpoint: s.endpoint.URL, PID: s.endpoint.PID, Started: s.started, DefaultProfile: s.defaultProfile}
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
		for _, name := range cfg.Names() {
			if p, _ := cfg.Get(name); p.IsRole() {
				sp := add(name)
				sp.Kind, sp.RoleARN, sp.SourceProfile = "role", p.RoleARN, p.SourceProfile
			}
		}
	}
	if names, err := s.keys.Profiles(ctx); err == nil {
		for _, n := range names {
			add(n)
		}
	}
	for _, cs := range s.cache.Statuses() {
		p := add(cs.Profile)
		if cs.RoleARN != "" {
			p.Kind, p.RoleARN = "role", cs.RoleARN
		}
		p.Expires, p.LastRefresh, p.NextRefresh = timePtr(cs.Expires), timePtr(cs.LastRefresh), timePtr(cs.NextRefresh)
		p.LastError = cs.LastError
	}
	for _, si := range s.broker.Sessions() {
		st.Sessions = append(st.Sessions, control.Session{Profile: si.Profile, MFASerial: si.MFASerial, Expires: si.Expires})
	}
	slices.SortFunc(st.Sessions, func(a, b control.Session) int { return strings.Compare(a.Profile, b.Profile) })
	for _, p := range byName {
		st.Profiles = append(st.Profiles, *p)
	}
	slices.SortFunc(st.Profiles, func(a, b control.Profile) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *service) Refresh(ctx context.Context, profile string) error {
	_, err := s.cache.Refresh(ctx, profile)
	return err
}

// Reload applies the config file as it is now: profiles it no longer has
// (and whose keys are not in the keychain) are dropped, and every other
// cached profile is refreshed at once in the background, its credentials
// served meanwhile. A config file that does not load changes nothing.
func (s *service) Reload(ctx context.Context) error {
	cfg, err := s.broker.Profiles()
	if err != nil {
		return err
	}
	keys, kerr := s.keys.Profiles(ctx)
	s.cache.Forget(func(name string) bool {
		_, _, err := cfg.Source(name)
		return errors.Is(err, profile.ErrNotFound) && kerr == nil && !slices.Contains(keys, name)
	})
	s.cache.RefreshAll()
	return nil
}

// source returns the source profile of name, or of the default profile
// when name is empty.
func (s *service) source(ctx context.Context, name string) (string, error) {
	if name == "" {
		name = s.defaultProfile
	}
	if name == "" {
		return "", server.Errorf(http.StatusBadRequest, "NoProfile", "name the profile to log in, e.g. brokerd login dev")
	}
	return s.broker.LoginSource(ctx, name)
}

func (s *service) Login(ctx context.Context, l control.Login) (control.LoginResult, error) {
	src, err := s.source(ctx, l.Profile)
	if err != nil {
		return control.LoginResult{}, err
	}
	sess, warning, err := s.broker.Login(ctx, src, l.Code, time.Duration(l.DurationSeconds)*time.Second)
	if err != nil {
		return control.LoginResult{}, err
	}
	res := control.LoginResult{Session: control.Session{Profile: src, MFASerial: sess.MFASerial, Expires: sess.Expires}}
	if warning != nil {
		res.Warning = warning.Error()
	}
	return res, nil
}

func (s *service) Logout(ctx context.Context, profile string) (string, error) {
	src, err := s.source(ctx, profile)
	if err != nil {
		return "", err
	}
	// Derived credentials go even when the keychain item could not be
	// deleted: the session is gone from memory either way.
	lerr := s.broker.Logout(ctx, src)
	cfg, err := s.broker.Profiles()
	s.cache.Forget(func(name string) bool {
		if name == src || err != nil {
			return true // without the config file, drop everything to be safe
		}
		p, _, serr := cfg.Source(name)
		return serr != nil || p.Name == src
	})
	if lerr != nil {
		return "", lerr
	}
	return src, nil
}

// watchSessions loads the MFA sessions kept in the keychain, then warns of
// sessions about to expire, every tick until ctx ends.
func (s *service) watchSessions(ctx context.Context, tick time.Duration) {
	if names, err := s.keys.Profiles(ctx); err == nil {
		s.broker.LoadSessions(ctx, names)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.broker.WarnExpiring()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
