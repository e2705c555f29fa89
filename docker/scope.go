package docker

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ScopeLabel is the container label where brokerd docker run (and the
// options of brokerd docker token) record what the container's token was
// made for, so that brokerd docker reissue gives it the same when its token
// file is lost. It holds no secret.
const ScopeLabel = "io.brokerd.reissue"

// Scope is what a container's token was made for, as ScopeLabel records
// it.
type Scope struct {
	// ID is the token's id, which names its file's directory.
	ID       string
	Label    string
	Profiles []string
	// TTLSeconds is the token's lifetime; 0 for the default.
	TTLSeconds int
}

// String is s as ScopeLabel holds it, id=ID,label=L,profiles=P+Q,ttl=N: it
// passes wire.ShellQuote unquoted when the profile names do (letters,
// digits, '-', '_', '.'), so that docker run $(brokerd docker token P)
// takes it whole; other bytes of a profile name are %XX.
func (s Scope) String() string {
	ps := make([]string, len(s.Profiles))
	for i, p := range s.Profiles {
		ps[i] = escapeName(p)
	}
	v := "id=" + s.ID + ",label=" + escapeName(s.Label) + ",profiles=" + strings.Join(ps, "+")
	if s.TTLSeconds > 0 {
		v += ",ttl=" + strconv.Itoa(s.TTLSeconds)
	}
	return v
}

// ParseScope reads a ScopeLabel's value; an error when it is not one.
func ParseScope(v string) (Scope, error) {
	var s Scope
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "id":
			s.ID = val
		case "label":
			s.Label, err = url.PathUnescape(val)
		case "profiles":
			for _, p := range strings.Split(val, "+") {
				p, err = url.PathUnescape(p)
				if err != nil || p == "" {
					return Scope{}, fmt.Errorf("label %s=%q: a profile name does not read", ScopeLabel, v)
				}
				s.Profiles = append(s.Profiles, p)
			}
		case "ttl":
			s.TTLSeconds, err = strconv.Atoi(val)
			if s.TTLSeconds < 0 {
				err = fmt.Errorf("negative")
			}
		}
		if err != nil {
			return Scope{}, fmt.Errorf("label %s=%q: %s does not read", ScopeLabel, v, k)
		}
	}
	if s.ID == "" || s.Label == "" || len(s.Profiles) == 0 {
		return Scope{}, fmt.Errorf("label %s=%q: want id, label and profiles", ScopeLabel, v)
	}
	return s, nil
}

// escapeName is name with every byte but letters, digits, '-', '_' and
// '.' as %XX.
func escapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
