package daemon

import (
	"context"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/watch"
)

// Reload applies the config file as it is now: profiles it no longer has
// (and whose keys are not in the keychain) are dropped, so are those whose
// plan changed, and every other cached profile is refreshed at once in the
// background, its credentials served meanwhile. A config file that does
// not load changes nothing.
func (s *service) Reload(ctx context.Context) error {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	cfg, err := s.broker.Reload()
	if err != nil {
		return err
	}
	keys, kerr := s.keyProfiles(ctx)
	old := s.applied
	s.applied = cfg
	s.cache.Forget(func(name string) bool {
		_, err := cfg.Get(name)
		gone := err != nil && kerr == nil && !slices.Contains(keys, name)
		return gone || planChanged(old, cfg, name)
	})
	s.cache.RefreshAll()
	return nil
}

// applyConfig applies an edit of the config file: the credentials of
// profiles whose plan changed (another role, MFA now required, another
// source, the profile gone) are dropped, so that none is served from a
// plan the file no longer has; the next request fetches anew. The others
// keep theirs. A config file that does not load changes nothing: the
// edit is likely under way.
func (s *service) applyConfig() {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	cfg, err := s.broker.Profiles()
	if err != nil {
		s.log.Warn("config file changed but does not load: brokerd serves what it has until it does", zap.Error(err))
		return
	}
	old := s.applied
	s.applied = cfg
	var dropped []string
	s.cache.Forget(func(name string) bool {
		if planChanged(old, cfg, name) {
			dropped = append(dropped, name)
			return true
		}
		return false
	})
	s.log.Info("applied the changed config file", zap.Strings("profiles_changed", dropped))
}

// planChanged reports whether name resolves otherwise in cfg than in old,
// or old is unknown.
func planChanged(old, cfg *profile.Config, name string) bool {
	if old == nil {
		return true
	}
	p0, err0 := old.Plan(name)
	p1, err1 := cfg.Plan(name)
	if err0 != nil || err1 != nil {
		return err0 == nil || err1 == nil || err0.Error() != err1.Error()
	}
	return !reflect.DeepEqual(p0, p1)
}

// watchConfig applies each edit of the config file at path ("" for the
// SDKs' place), a burst of them once, until ctx ends.
func (s *service) watchConfig(ctx context.Context, path string) {
	if path == "" {
		var err error
		if path, err = profile.Path(); err != nil {
			s.log.Warn("config file not watched: edits apply at the next refresh or SIGHUP", zap.Error(err))
			return
		}
	}
	changes := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.gathered(ctx, changes, s.applyConfig)
	}()
	defer func() { <-done }()
	err := watch.File(ctx, path, func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	})
	if err != nil {
		s.log.Warn("config file not watched: edits apply at the next refresh or SIGHUP", zap.Error(err))
		<-ctx.Done()
	}
}

// reloads reloads the config file for requests on ch, one reload for each
// burst of requests, until ctx ends.
func (s *service) reloads(ctx context.Context, ch <-chan struct{}) {
	s.gathered(ctx, ch, func() {
		if err := s.Reload(ctx); err != nil {
			s.log.Warn("config file not reloaded: fix it and send SIGHUP again", zap.Error(err))
		} else {
			s.log.Info("reloaded the config file")
		}
	})
}

// gathered calls do once for each burst of values on ch, until ctx ends.
func (s *service) gathered(ctx context.Context, ch <-chan struct{}, do func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		if !s.settle(ctx, ch) {
			return
		}
		do()
	}
}

// reloadSettle is how long reload requests are gathered before one reload.
const reloadSettle = 200 * time.Millisecond

// reloadGather bounds how long a burst of reload requests is gathered: twice
// the second in which 100 SIGHUPs must make one reload, so that one sent
// late does not start a second.
const reloadGather = 2 * time.Second

// settle waits until no request came on ch for reloadSettle, or at most
// reloadGather; false when ctx ended.
func (s *service) settle(ctx context.Context, ch <-chan struct{}) bool {
	deadline := s.clock.NewTimer(reloadGather)
	defer deadline.Stop()
	for {
		quiet := s.clock.NewTimer(reloadSettle)
		select {
		case <-ctx.Done():
			quiet.Stop()
			return false
		case <-ch:
			quiet.Stop()
		case <-quiet.Chan():
			return true
		case <-deadline.Chan():
			quiet.Stop()
			return true
		}
	}
}
