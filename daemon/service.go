package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/control"
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
	for _, p := range byName {
		st.Profiles = append(st.Profiles, *p)
	}
	slices.SortFunc(st.Profiles, func(a, b control.Profile) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
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

func (s *service) Reload(context.Context) error {
	s.cache.Forget(func(string) bool { return true })
	return nil
}
