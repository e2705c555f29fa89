package daemon

import (
	"context"
	"fmt"
	"slices"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/region"
)

// Resolve names the profile that name (empty: the default) serves and the
// region its SDKs should use. A name that neither the config file nor the
// keychain has is NotFound; when the keychain cannot be read, the name is
// given the benefit of the doubt.
func (s *service) Resolve(ctx context.Context, name string) (control.Resolved, error) {
	p, err := s.plan(name)
	if err != nil {
		return control.Resolved{}, err
	}
	if !p.Listed {
		if names, kerr := s.keyProfiles(ctx); kerr == nil && !slices.Contains(names, p.Name) {
			path := "the AWS config file"
			if cfg, err := s.broker.Profiles(); err == nil {
				path = cfg.Path
			}
			return control.Resolved{}, &fault.Error{Kind: fault.NotFound, Code: "ProfileNotFound",
				Message: fmt.Sprintf("no profile %q in %s nor keys for it in the keychain: add a [profile %s] section, or keys with `brokerd keys add %s`", p.Name, path, p.Name, p.Name)}
		}
	}
	return control.Resolved{Profile: p.Name, Region: region.Of(p)}, nil
}
