// Package profile provides the profiles of the AWS shared config file
// (~/.aws/config) as brokerd uses them: roles and their source profiles.
package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrNotFound means the config file has no such profile.
	ErrNotFound = errors.New("profile not found")
	// ErrInvalid means the profile asked for, or one it depends on, holds a
	// setting brokerd cannot use, or the file cannot be read at all (a
	// directory, no permission); what it holds always parses, as the SDKs
	// read it.
	ErrInvalid = errors.New("invalid AWS config")
	// ErrUnsupported means the profile gets its credentials in a way
	// brokerd does not serve.
	ErrUnsupported = errors.New("unsupported credential source")
)

// Profile is one profile of the shared config file.
type Profile struct {
	Name            string
	RoleARN         string
	SourceProfile   string
	ExternalID      string
	RoleSessionName string
	Duration        time.Duration // 0 when duration_seconds is not set
	Region          string
	MFASerial       string
	MFAProcess      string
	// EndpointURL is where the SDKs send the STS calls of this profile,
	// as the file sets it: the endpoint_url of sts in the [services NAME]
	// section the profile names, else its endpoint_url; "" when
	// IgnoreEndpoints, or it sets neither. AWS_ENDPOINT_URL_STS and
	// AWS_ENDPOINT_URL come first, and are not read here.
	EndpointURL string
	// IgnoreEndpoints means the SDKs use no endpoint of the file for this
	// profile, its source profile's included:
	// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, or the profile's
	// ignore_configured_endpoint_urls = true unless that variable is false
	// (see ignoresEndpoints).
	IgnoreEndpoints bool
	// CredentialProcess is the command of credential_process, which the
	// SDKs run for credentials (brokerd does not).
	CredentialProcess string
	// Keys reports whether the profile's section sets both
	// aws_access_key_id and aws_secret_access_key. The SDKs sign with such
	// a profile's keys when they reach it as a source_profile, whatever
	// role it assumes itself; brokerd signs with its keys in the keychain.
	Keys bool
	// IAM Identity Center: the [sso-session NAME] that signs in, or the
	// legacy form's sso_start_url and sso_region, and the role to get.
	SSOSession, SSOStartURL, SSORegion string
	SSOAccountID, SSORoleName          string
	// Other credential settings brokerd does not serve from, by key name.
	Unsupported []string
	// Unknown lists the settings of the profile that neither brokerd nor
	// the AWS SDKs read (see IsSetting), by key name, sorted: typos, often.
	Unknown []string
}

// IsRole reports whether the profile assumes a role.
func (p Profile) IsRole() bool { return p.RoleARN != "" }

// Config is a parsed shared config file.
type Config struct {
	Path     string
	profiles map[string]Profile
	// invalid holds why a profile could not be read; like the SDKs, brokerd
	// fails only when such a profile is used.
	invalid map[string]error
	// ssoSessions holds the [sso-session NAME] sections, by name.
	ssoSessions map[string]SSOSession
}

// Path returns the shared config file's path as the AWS SDKs find it:
// AWS_CONFIG_FILE, else ~/.aws/config.
func Path() (string, error) {
	if p := os.Getenv("AWS_CONFIG_FILE"); p != "" {
		return expandHome(p)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the AWS config file: %w", err)
	}
	return filepath.Join(home, ".aws", "config"), nil
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %q: %w", p, err)
	}
	return filepath.Join(home, p[1:]), nil
}

// Load reads the config file at path. A missing file is an empty config.
func Load(path string) (*Config, error) {
	b, err := ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{Path: path, profiles: map[string]Profile{}, invalid: map[string]error{}}, nil
	}
	if err != nil {
		// A directory, say, or a file made unreadable.
		return nil, fmt.Errorf("%w: %v: make %s a file you can read", ErrInvalid, err, path)
	}
	return Parse(path, b), nil
}

// Parse parses the text of a config file as the AWS SDKs read it (see
// readINI), with [profile default] in place of [default] when both are
// there. path is used in messages only.
func Parse(path string, text []byte) *Config { return ParseFile(text).Config(path) }

// Config returns the profiles of f, a config file, as Parse does.
func (f File) Config(path string) *Config {
	services := map[string]*Section{}
	envIgnore, envSet := ignoreEndpointsEnv()
	c := &Config{Path: path, profiles: map[string]Profile{}, invalid: map[string]error{}}
	for _, s := range f.Sections {
		if name, ok := strings.CutPrefix(s.Name, "services "); ok {
			services[name] = s
		}
		c.addSSOSession(s)
	}
	names, sections := f.Profiles()
	for _, name := range names {
		s := sections[name]
		p, err := parseProfile(name, s)
		if err != nil {
			c.invalid[name] = fmt.Errorf("%w %s, profile %q: %v", ErrInvalid, path, name, err)
			continue
		}
		p.IgnoreEndpoints = envIgnore || !envSet && ignoresEndpoints(s)
		if !p.IgnoreEndpoints {
			p.EndpointURL = stsEndpoint(s, services)
		}
		c.profiles[name] = p
	}
	return c
}

// stsEndpoint is the endpoint that the SDKs send the STS calls of profile
// s to, as the file sets it, when configured endpoints are not ignored
// (aws-sdk-go-v2: resolveBaseEndpoint of config and of sts; botocore:
// ConfiguredEndpointProvider): the endpoint_url of sts in the [services
// NAME] section it names, else its endpoint_url.
func stsEndpoint(s *Section, services map[string]*Section) string {
	if svc := services[s.Keys["services"]]; svc != nil {
		if u := svc.Nested["sts"]["endpoint_url"]; u != "" {
			return u
		}
	}
	return s.Keys["endpoint_url"]
}

// ignoresEndpoints reports whether profile s sets
// ignore_configured_endpoint_urls = true (in any case).
func ignoresEndpoints(s *Section) bool {
	return strings.EqualFold(s.Keys["ignore_configured_endpoint_urls"], "true")
}

// IgnoreEndpointsVar is the variable that decides over every profile's
// ignore_configured_endpoint_urls.
const IgnoreEndpointsVar = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"

// ignoreEndpointsEnv returns what AWS_IGNORE_CONFIGURED_ENDPOINT_URLS says,
// and whether it says anything: true or false, in any case, decide for
// every profile, as in aws-sdk-go-v2 (the environment config before the
// shared config) and botocore (the variable before the profile); unset or
// empty, each profile decides, as in aws-sdk-go-v2. The SDKs part on the
// other values: botocore reads an empty or other value as false, and
// aws-sdk-go-v2 fails to load any configuration with another value (so
// brokerd's STS calls fail too); doctor warns of both.
func ignoreEndpointsEnv() (ignore, set bool) {
	v := os.Getenv(IgnoreEndpointsVar)
	switch {
	case strings.EqualFold(v, "true"):
		return true, true
	case strings.EqualFold(v, "false"):
		return false, true
	}
	return false, false
}

// Header is the config file's section header of profile name.
func Header(name string) string {
	if name == "default" {
		return "[default]"
	}
	return "[profile " + name + "]"
}

// isDefault reports whether s is a [default] section, not [profile default].
func isDefault(s *Section) bool { return s.Name == "default" }

// sectionProfile returns the profile a section defines: [default] and
// [profile NAME]; the SDKs ignore other sections for profiles.
func sectionProfile(section string) (string, bool) {
	if section == "default" {
		return "default", true
	}
	name, ok := strings.CutPrefix(section, "profile ")
	return name, ok && name != ""
}

// MaxRoleDuration is the longest session AssumeRole grants (its
// DurationSeconds), whatever the role's MaxSessionDuration; only
// GetSessionToken, which a source profile's duration_seconds sets, goes
// up to 36 hours.
const MaxRoleDuration = 12 * time.Hour

// sessionName is checked with a length (2 to 64) apart: a counted
// repetition compiles to a program of that many copies.
var sessionName = regexp.MustCompile(`^[\w+=,.@-]+$`)

func parseProfile(name string, s *Section) (Profile, error) {
	// The section's own keys, as raw values: the SDKs expand no %(name)s
	// references, and [profile a.b] inherits nothing from [profile a]. A
	// quoted value keeps its spaces, as in the SDKs.
	get := func(k string) string { return s.Keys[k] }
	p := Profile{
		Name:              name,
		RoleARN:           get("role_arn"),
		SourceProfile:     get("source_profile"),
		ExternalID:        get("external_id"),
		RoleSessionName:   get("role_session_name"),
		Region:            get("region"),
		MFASerial:         get("mfa_serial"),
		MFAProcess:        get("mfa_process"),
		CredentialProcess: get("credential_process"),
		SSOSession:        get("sso_session"),
		SSOStartURL:       get("sso_start_url"),
		SSORegion:         get("sso_region"),
		SSOAccountID:      get("sso_account_id"),
		SSORoleName:       get("sso_role_name"),
		Unknown:           unknown(s),
		Keys:              get("aws_access_key_id") != "" && get("aws_secret_access_key") != "",
	}
	if d := get("duration_seconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 129600 {
			return Profile{}, fmt.Errorf("duration_seconds = %q: want whole seconds from 900 to 129600", d)
		}
		p.Duration = time.Duration(n) * time.Second
		if p.RoleARN != "" && p.Duration > MaxRoleDuration {
			return Profile{}, fmt.Errorf("duration_seconds = %q: a role's session lasts at most %d seconds (12 hours), and STS refuses more: set duration_seconds = %[2]d or less", d, int(MaxRoleDuration/time.Second))
		}
	}
	if n := len(p.RoleSessionName); n > 0 && (n < 2 || n > 64 || !sessionName.MatchString(p.RoleSessionName)) {
		return Profile{}, fmt.Errorf("role_session_name = %q: want 2 to 64 characters of letters, digits and +=,.@_-", p.RoleSessionName)
	}
	if p.RoleARN != "" && !strings.HasPrefix(p.RoleARN, "arn:") {
		return Profile{}, fmt.Errorf("role_arn = %q: want an ARN such as arn:aws:iam::999999999999:role/UpdateApp", p.RoleARN)
	}
	if p.RoleARN == "" && p.SourceProfile != "" {
		// The SDKs refuse it (CredentialRequiresARNError); serving the
		// profile's own keys would ask for keys of a profile that names
		// where its keys are.
		typo := ""
		if k := p.Misspelling("role_arn"); k != "" {
			typo = fmt.Sprintf(" (it sets %s: did you mean role_arn?)", k)
		}
		return Profile{}, fmt.Errorf("source_profile = %s but no role_arn%s, which the SDKs refuse: add role_arn = ARN of the role to assume with the keys of %s, or remove source_profile", p.SourceProfile, typo, p.SourceProfile)
	}
	for _, k := range []string{"credential_source", "credential_process", "web_identity_token_file"} {
		if get(k) != "" {
			p.Unsupported = append(p.Unsupported, k)
		}
	}
	return p, nil
}

// asSource is p as the source profile whose own keys sign: without the
// settings of the role it would assume itself.
func (p Profile) asSource() Profile {
	return Profile{Name: p.Name, Region: p.Region, MFASerial: p.MFASerial, MFAProcess: p.MFAProcess,
		EndpointURL: p.EndpointURL, IgnoreEndpoints: p.IgnoreEndpoints, Keys: p.Keys}
}

// Get returns the named profile. The error wraps ErrNotFound when the
// file has no such profile.
func (c *Config) Get(name string) (Profile, error) {
	if err := c.invalid[name]; err != nil {
		return Profile{}, err
	}
	p, ok := c.profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("%w: no profile %q in %s: add a [profile %s] section or check the name", ErrNotFound, name, c.Path, name)
	}
	return p, nil
}

// Names lists the profiles, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.profiles))
	for n := range c.profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadNames lists the profile and sso-session names of the config file at
// path (empty: Path()), sorted, as Load and Names and SSOSessionNames
// would; a missing file has none. It reads that file and nothing else,
// the keychain least of all: it is what shell completion lists when no
// daemon runs, the one read of the config file by the CLI.
func LoadNames(path string) (profiles, ssoSessions []string, err error) {
	if path == "" {
		if path, err = Path(); err != nil {
			return nil, nil, err
		}
	}
	c, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	return c.Names(), c.SSOSessionNames(), nil
}

// Source returns the profile whose long-term keys sign for name: name itself
// for a source profile, else the end of its source_profile chain. chain
// lists the roles to assume from it, innermost first. A source_profile
// with no section of its own is a source profile with only a name: its
// keys are in the keychain, which is where brokerd finds out. The error
// wraps ErrNotFound when the file has no profile name.
func (c *Config) Source(name string) (src Profile, chain []Profile, err error) {
	seen := map[string]bool{}
	p, err := c.Get(name)
	for err == nil && p.IsRole() {
		if seen[p.Name] {
			return Profile{}, nil, fmt.Errorf("%w: profile %q: source_profile loops back to %q: fix %s", ErrInvalid, name, p.Name, c.Path)
		}
		seen[p.Name] = true
		for _, k := range []string{"credential_source", "web_identity_token_file"} {
			if !slices.Contains(p.Unsupported, k) {
				continue
			}
			// The SDKs take either only without source_profile.
			if p.SourceProfile != "" {
				return Profile{}, nil, fmt.Errorf("%w: profile %q sets both source_profile and %s, which the SDKs refuse: keep source_profile", ErrInvalid, p.Name, k)
			}
			return Profile{}, nil, fmt.Errorf("%w: profile %q assumes its role with %s, which brokerd does not serve: set source_profile = NAME of a profile whose keys brokerd holds instead", ErrUnsupported, p.Name, k)
		}
		if p.SourceProfile == "" {
			// aws-sdk-go-v2 assumes the role with the profile's own
			// credentials; botocore refuses it.
			switch {
			case p.CredentialProcess != "":
				return Profile{}, nil, fmt.Errorf("%w: profile %q assumes its role with its own credential_process, which brokerd does not serve: set source_profile = NAME of a profile whose keys brokerd holds instead", ErrUnsupported, p.Name)
			case p.hasSSO():
				return Profile{}, nil, fmt.Errorf("%w: profile %q assumes its role with its own IAM Identity Center settings, which brokerd does not take: move the sso_ settings to a [profile NAME] of their own and set source_profile = NAME in %s", ErrUnsupported, p.Name, c.Path)
			}
			if typo := p.Misspelling("source_profile"); typo != "" {
				return Profile{}, nil, fmt.Errorf("%w: profile %q has role_arn but no source_profile, and sets %s (did you mean source_profile?): fix %s in %s",
					ErrInvalid, p.Name, typo, Header(p.Name), c.Path)
			}
			return Profile{}, nil, fmt.Errorf("%w: profile %q has role_arn but no source_profile: add source_profile = NAME of the profile whose keys brokerd holds", ErrInvalid, p.Name)
		}
		chain = append([]Profile{p}, chain...)
		if p.SourceProfile == p.Name {
			// The SDKs read a profile that names itself as its own source
			// as "use this profile's keys".
			return p.asSource(), chain, nil
		}
		if err := c.invalid[p.SourceProfile]; err != nil {
			return Profile{}, nil, err
		}
		next, ok := c.profiles[p.SourceProfile]
		if !ok {
			return Profile{Name: p.SourceProfile}, chain, nil
		}
		if next.IsRole() && next.Keys {
			// A source_profile with keys signs with them, and its own
			// role_arn is not assumed: aws-sdk-go-v2 returns a profile
			// with keys at once when it is not the first
			// (setFromIniSections), and botocore resolves a source
			// profile with static credentials before its role
			// (_resolve_credentials_from_profile). The first profile of
			// the chain assumes its role all the same.
			return next.asSource(), chain, nil
		}
		p = next
	}
	if err != nil {
		return Profile{}, nil, err
	}
	return p, chain, nil
}
