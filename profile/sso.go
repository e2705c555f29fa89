package profile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// KindSSO gets role credentials from IAM Identity Center (SSO), signed in
// to with `brokerd login SESSION`.
const KindSSO Kind = "sso"

// SSOSession is an IAM Identity Center sign-in as the SDKs read it: an
// [sso-session NAME] section, or the legacy form, a profile's own
// sso_start_url and sso_region, which has no Name.
type SSOSession struct {
	Name     string   // the section's name; "" in the legacy form
	StartURL string   // sso_start_url
	Region   string   // sso_region, where its OIDC and portal endpoints are
	Scopes   []string // sso_registration_scopes, comma-separated in the file
}

// IsSSO reports whether the profile gets its credentials from IAM Identity
// Center, as the SDKs decide: it names an sso_session, or sets any of the
// legacy keys. A role (role_arn) never does: its source_profile signs.
func (p Profile) IsSSO() bool { return !p.IsRole() && p.hasSSO() }

// hasSSO reports whether p sets any setting of IAM Identity Center.
func (p Profile) hasSSO() bool {
	return p.SSOSession != "" || p.SSOStartURL != "" || p.SSORegion != "" || p.SSOAccountID != "" || p.SSORoleName != ""
}

// unsupported lists the credential settings of p that brokerd does not
// serve from. The SDKs take SSO before credential_process, so an SSO
// profile's credential_process is not used.
func (p Profile) unsupported() []string {
	if !p.IsSSO() {
		return p.Unsupported
	}
	return slices.DeleteFunc(slices.Clone(p.Unsupported), func(k string) bool { return k == "credential_process" })
}

// sectionSSOSession returns the session an [sso-session NAME] section
// defines.
func sectionSSOSession(section string) (string, bool) {
	return strings.CutPrefix(section, "sso-session ")
}

// parseSSOSession reads an [sso-session NAME] section.
func parseSSOSession(name string, s *Section) SSOSession {
	get := func(k string) string { return strings.TrimSpace(s.Keys[k]) }
	sess := SSOSession{Name: name, StartURL: get("sso_start_url"), Region: get("sso_region")}
	for _, scope := range strings.Split(get("sso_registration_scopes"), ",") {
		if scope = strings.TrimSpace(scope); scope != "" {
			sess.Scopes = append(sess.Scopes, scope)
		}
	}
	return sess
}

// addSSOSession keeps s when it is an [sso-session NAME] section, and
// reports whether it was one.
func (c *Config) addSSOSession(s *Section) bool {
	name, ok := sectionSSOSession(s.Name)
	if !ok {
		return false
	}
	if c.ssoSessions == nil {
		c.ssoSessions = map[string]SSOSession{}
	}
	c.ssoSessions[name] = parseSSOSession(name, s)
	return true
}

// SSOSession returns the [sso-session NAME] section. The error wraps
// ErrNotFound when the file has none.
func (c *Config) SSOSession(name string) (SSOSession, error) {
	s, ok := c.ssoSessions[name]
	if !ok {
		return SSOSession{}, fmt.Errorf("%w: no [sso-session %s] section in %s", ErrNotFound, name, c.Path)
	}
	return s, nil
}

// SSOSessionNames lists the [sso-session NAME] sections, sorted.
func (c *Config) SSOSessionNames() []string {
	names := make([]string, 0, len(c.ssoSessions))
	for n := range c.ssoSessions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoginName is what `brokerd login` takes to open the sign-in p needs: the
// sso-session's name, or for the legacy SSO form and MFA sessions the
// source profile.
func (p Plan) LoginName() string {
	if p.Kind == KindSSO && p.SSO.Name != "" {
		return p.SSO.Name
	}
	return p.Source.Name
}

// planSSO makes p a plan from the SSO profile p.Source: it finds the
// session and checks that the role to get is named. The SDKs' MFA
// settings do not apply to credentials from IAM Identity Center.
func (c *Config) planSSO(p *Plan) error {
	src := p.Source
	var missing []string
	sess := SSOSession{StartURL: src.SSOStartURL, Region: src.SSORegion}
	if src.SSOSession != "" {
		var ok bool
		if sess, ok = c.ssoSessions[src.SSOSession]; !ok {
			return fmt.Errorf("%w: profile %q has sso_session = %s, but %s has no [sso-session %s] section: add one with sso_start_url and sso_region",
				ErrInvalid, src.Name, src.SSOSession, c.Path, src.SSOSession)
		}
		if sess.StartURL == "" {
			missing = append(missing, "sso_start_url")
		}
		if sess.Region == "" {
			missing = append(missing, "sso_region")
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: [sso-session %s] in %s has no %s: add it", ErrInvalid, sess.Name, c.Path, strings.Join(missing, " or "))
		}
		// As the SDKs check: the profile's own values must agree.
		for _, v := range [][3]string{{"sso_start_url", src.SSOStartURL, sess.StartURL}, {"sso_region", src.SSORegion, sess.Region}} {
			if v[1] != "" && v[1] != v[2] {
				return fmt.Errorf("%w: profile %q has %s = %s, but its [sso-session %s] has %s: remove it from the profile in %s",
					ErrInvalid, src.Name, v[0], v[1], sess.Name, v[2], c.Path)
			}
		}
	} else {
		if sess.StartURL == "" {
			missing = append(missing, "sso_start_url")
		}
		if sess.Region == "" {
			missing = append(missing, "sso_region")
		}
	}
	if src.SSOAccountID == "" {
		missing = append(missing, "sso_account_id")
	}
	if src.SSORoleName == "" {
		missing = append(missing, "sso_role_name")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: profile %q uses IAM Identity Center but has no %s: add it to [profile %s] in %s",
			ErrInvalid, src.Name, strings.Join(missing, ", "), src.Name, c.Path)
	}
	p.Kind, p.SSO = KindSSO, sess
	p.MFASerial, p.MFAProcess = "", ""
	return nil
}
