package profile

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is the kind of credential source a plan starts from.
type Kind string

// The kinds of source brokerd serves from.
const (
	// KindKeys signs with the long-term keys kept in the keychain.
	KindKeys Kind = "keys"
	// KindMFA signs with the MFA session that a login opened with those keys.
	KindMFA Kind = "mfa-session"
)

// Plan is a profile resolved once into what fetching, logging in, status
// and doctor need: where its credentials start and the roles from there.
type Plan struct {
	Name   string  // the profile asked for
	Kind   Kind    // the source's kind
	Source Profile // the profile whose keys (or login) sign
	Chain  []Profile
	// MFASerial is the MFA device that signs, read as the SDKs read it:
	// the outermost role's mfa_serial, else its source's. MFAProcess
	// likewise gives the command that prints a code.
	MFASerial, MFAProcess string
	// Region is the region of the profile asked for, "" when it sets none.
	Region string
	// Listed is false for a name the config file does not have: a source
	// profile whose keys may be in the keychain alone.
	Listed bool
	// SSO is the IAM Identity Center session of a KindSSO plan, whose
	// Source names the account (SSOAccountID) and role (SSORoleName).
	SSO SSOSession
}

// Role is the outermost role of the plan, the one its credentials are
// for; ok is false when the plan serves its source's credentials.
func (p Plan) Role() (role Profile, ok bool) {
	if len(p.Chain) == 0 {
		return Profile{}, false
	}
	return p.Chain[len(p.Chain)-1], true
}

// Plan resolves name. A name the config file lacks resolves to a
// keychain-only source plan, with Listed false. Errors wrap ErrInvalid or
// ErrUnsupported.
func (c *Config) Plan(name string) (Plan, error) {
	src, chain, err := c.Source(name)
	if errors.Is(err, ErrNotFound) {
		return Plan{Name: name, Kind: KindKeys, Source: Profile{Name: name}}, nil
	}
	if err != nil {
		return Plan{}, err
	}
	if u := src.unsupported(); len(u) > 0 {
		return Plan{}, fmt.Errorf("%w: profile %q uses %s, which brokerd does not serve: give it keys with `brokerd keys add %s` instead",
			ErrUnsupported, src.Name, strings.Join(u, ", "), src.Name)
	}
	p := Plan{Name: name, Kind: KindKeys, Source: src, Chain: chain, Listed: true,
		MFASerial: src.MFASerial, MFAProcess: src.MFAProcess}
	for i := len(chain) - 1; i >= 0; i-- {
		if chain[i].MFASerial != "" {
			p.MFASerial = chain[i].MFASerial
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if chain[i].MFAProcess != "" {
			p.MFAProcess = chain[i].MFAProcess
			break
		}
	}
	if p.MFASerial != "" {
		p.Kind = KindMFA
	}
	if src.IsSSO() {
		if err := c.planSSO(&p); err != nil {
			return Plan{}, err
		}
	}
	if len(chain) > 0 {
		p.Region = chain[len(chain)-1].Region
	} else {
		p.Region = src.Region
	}
	return p, nil
}

// MaxNameLen bounds profile names at every edge.
const MaxNameLen = 128

// CheckName reports why name cannot be a profile's name: it must be valid
// UTF-8 of at most MaxNameLen bytes, without spaces, control characters
// or the characters / \ [ ] that neither a URL path segment nor a config
// section header holds plainly, and not . or .., which URL parsers (the JS
// SDK's among them) resolve away, escaped or not.
func CheckName(name string) error {
	if plainName(name) {
		return nil // the common case, without decoding runes
	}
	switch {
	case name == "":
		return errors.New("the profile name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("the profile name %q is a path segment that SDKs resolve away: rename the profile", name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("the profile name is %d bytes long: at most %d are allowed", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return errors.New("the profile name is not valid UTF-8")
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune(`/\[]`, r) || !unicode.IsPrint(r)
	}); i >= 0 {
		return fmt.Errorf("the profile name %q holds %q: use letters, digits and punctuation other than / \\ [ ]", name, name[i:i+utf8.RuneLen([]rune(name[i:])[0])])
	}
	return nil
}

// plainName reports whether name is 1 to MaxNameLen printable ASCII
// characters other than space and / \ [ ], and not . or .., which
// CheckName accepts.
func plainName(name string) bool {
	if name == "" || len(name) > MaxNameLen || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c <= ' ' || c >= 0x7f, c == '/', c == '\\', c == '[', c == ']':
			return false
		}
	}
	return true
}
