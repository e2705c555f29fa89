package daemon

import (
	"context"
	"slices"
	"sync"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/profile"
)

// keyNames is the list of profiles with keys that the keychain last gave,
// kept for Names, which must not read the keychain: a locked Secret
// Service asks the person to unlock it at each read.
type keyNames struct {
	mu    sync.Mutex
	names []string
}

// keyProfiles lists the profiles with keys in the keychain, and keeps the
// list for Names.
func (s *service) keyProfiles(ctx context.Context) ([]string, error) {
	names, err := s.keys.Profiles(ctx)
	if err == nil {
		s.keyNames.mu.Lock()
		s.keyNames.names = slices.Clone(names)
		s.keyNames.mu.Unlock()
	}
	return names, err
}

// keysChangedName updates the kept list of profiles with keys after keys
// of name were added or removed.
func (s *service) keysChangedName(name string, removed bool) {
	s.keyNames.mu.Lock()
	defer s.keyNames.mu.Unlock()
	s.keyNames.names = slices.DeleteFunc(s.keyNames.names, func(n string) bool { return n == name })
	if !removed {
		s.keyNames.names = append(s.keyNames.names, name)
	}
}

// Names lists the profile and sso-session names the daemon knows: the
// config file's, the default profile, those served or with an MFA session
// in memory, and those with keys when the keychain was last read. It reads
// no keychain item; a config file that does not load leaves the others.
func (s *service) Names(context.Context) (control.Names, error) {
	n := control.Names{Profiles: []string{}}
	if cfg, err := s.broker.Profiles(); err == nil {
		n = configNames(cfg)
	}
	if s.defaultProfile != "" {
		n.Profiles = append(n.Profiles, s.defaultProfile)
	}
	for _, cs := range s.cache.Statuses() {
		n.Profiles = append(n.Profiles, cs.Profile)
	}
	for _, si := range s.broker.Sessions() {
		n.Profiles = append(n.Profiles, si.Profile)
	}
	s.keyNames.mu.Lock()
	n.Profiles = append(n.Profiles, s.keyNames.names...)
	s.keyNames.mu.Unlock()
	slices.Sort(n.Profiles)
	n.Profiles = slices.Compact(n.Profiles)
	return n, nil
}

// configNames lists the profiles and sso-sessions of cfg.
func configNames(cfg *profile.Config) control.Names {
	return control.Names{Profiles: cfg.Names(), SSOSessions: cfg.SSOSessionNames()}
}
