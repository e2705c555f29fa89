package profile

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
)

// Section is one [section] of a config or credentials file as the SDKs
// read it: its name as they spell it ("default", "profile NAME",
// "sso-session NAME", "services NAME" in the config file; the profile's
// name in the credentials file) and its keys in lower case, with their
// values unquoted. A key that opens nested values (such as sts =) holds
// "", and its nested values are in Nested, by key.
type Section struct {
	Name   string
	Keys   map[string]string
	Nested map[string]map[string]string
}

// File is a config or credentials file as the SDKs read it.
type File struct {
	// Sections are in the order they first appear; a repeated section
	// adds to the first.
	Sections []*Section
}

// ParseFile reads the text of a config or credentials file (see readINI).
func ParseFile(text []byte) File { return File{readINI(string(text))} }

// LoadFile reads the file at path as ReadFile does; a missing file is an
// empty one.
func LoadFile(path string) (File, error) {
	b, err := ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, nil
	}
	if err != nil {
		return File{}, err
	}
	return ParseFile(b), nil
}

// Section returns the section of that name, as the SDKs spell it.
func (f File) Section(name string) (*Section, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Profiles returns the profile sections of a config file, by profile
// name, and their names in the order they appear: [default] and [profile
// NAME], with [profile default] in place of [default] when both are
// there, as the SDKs read them.
func (f File) Profiles() (names []string, byName map[string]*Section) {
	hasProfileDefault := slices.ContainsFunc(f.Sections, func(s *Section) bool {
		name, ok := sectionProfile(s.Name)
		return ok && name == "default" && !isDefault(s)
	})
	byName = map[string]*Section{}
	for _, s := range f.Sections {
		name, ok := sectionProfile(s.Name)
		if !ok || hasProfileDefault && isDefault(s) {
			continue
		}
		names = append(names, name)
		byName[name] = s
	}
	return names, byName
}

// readINI reads a config file line by line exactly as aws-sdk-go-v2 does
// (config/internal/ini: tokenize.go, parse.go, strings.go), so that
// brokerd sees the profiles every SDK call in the user's shell sees. No
// INI library reads it the same way: the SDKs keep quotes in key names,
// start a comment only after whitespace, continue a value on an indented
// line, and skip any line they do not recognise. Sections keep the order
// they first appear in; a repeated section adds to the first.
func readINI(text string) []*Section {
	var (
		order  []*Section
		byName = map[string]*Section{}
		cur    *Section // nil before the first header and after "[]"
		key    string   // the last key of cur, which indented lines extend
		// more holds the continuation lines of key, joined to its value
		// once it ends: appending each in turn copies the value each time.
		more []string
	)
	endKey := func() {
		if len(more) > 0 {
			cur.Keys[key] += "\n" + strings.Join(more, "\n")
			more = more[:0]
		}
	}
	set := func(k, v string) {
		if cur != nil {
			endKey()
			key = k
			cur.Keys[k] = v
			delete(cur.Nested, k)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" || isLineComment(line) {
			continue
		}
		if name, ok := asHeader(line); ok {
			endKey()
			key, cur = "", nil
			if name == "" {
				continue // the SDKs ignore keys under "[]"
			}
			if cur = byName[name]; cur == nil {
				cur = &Section{Name: name, Keys: map[string]string{}}
				byName[name] = cur
				order = append(order, cur)
			}
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if !indented {
			v := strings.TrimRight(trimComment(line), " \t")
			if k, v, ok := splitKey(v); ok {
				set(k, v)
			}
			continue
		}
		t := strings.TrimLeft(line, " \t")
		if k, v, ok := splitKey(t); ok {
			switch {
			case cur == nil:
			case key == "" || cur.Keys[key] != "":
				// A key of its own when the key above has a value or
				// there is none.
				set(k, strings.TrimSpace(trimComment(v)))
			default:
				// A nested value of key, comment and all, as the SDKs
				// keep it.
				if cur.Nested == nil {
					cur.Nested = map[string]map[string]string{}
				}
				if cur.Nested[key] == nil {
					cur.Nested[key] = map[string]string{}
				}
				cur.Nested[key][k] = v
			}
			continue
		}
		// A continuation extends a value; nested values have none.
		if cur != nil && key != "" && cur.Keys[key] != "" {
			more = append(more, t)
		}
	}
	endKey()
	return order
}

func isLineComment(line string) bool {
	t := strings.TrimLeft(line, " \t")
	return strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";")
}

// asHeader returns the section a "[type name] ; comment" line opens.
func asHeader(line string) (string, bool) {
	h, _, _ := strings.Cut(line, "#")
	h, _, _ = strings.Cut(h, ";")
	h = strings.TrimSpace(h)
	if !strings.HasPrefix(h, "[") || !strings.HasSuffix(h, "]") {
		return "", false
	}
	h = strings.TrimSpace(h[1 : len(h)-1])
	// The first run of spaces or tabs separates the type from the name.
	first := 0
	for i, r := range h {
		switch {
		case r == ' ' || r == '\t':
			if first == 0 {
				first = i
			}
		case first != 0:
			return h[:first] + " " + h[i:], true
		}
	}
	if first != 0 {
		return "", true
	}
	return h, true
}

// trimComment cuts a key line at the first # or ; after whitespace.
func trimComment(s string) string {
	for _, c := range []string{" #", " ;", "\t#", "\t;"} {
		s, _, _ = strings.Cut(s, c)
	}
	return s
}

// splitKey splits "key = value" at the first = or :, and lowers the key
// and unquotes the value as the SDKs do.
func splitKey(s string) (k, v string, ok bool) {
	sep := "="
	if eq, colon := strings.Index(s, "="), strings.Index(s, ":"); eq == -1 || colon != -1 && colon < eq {
		sep = ":"
	}
	k, v, ok = strings.Cut(s, sep)
	if !ok {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(k)), unquote(strings.TrimSpace(v)), true
}

func unquote(s string) string {
	for _, q := range []string{`"`, "'"} {
		// The SDKs panic on a lone quote; brokerd keeps it.
		if len(s) >= 2 && strings.HasPrefix(s, q) && strings.HasSuffix(s, q) {
			return s[1 : len(s)-1]
		}
	}
	return s
}
