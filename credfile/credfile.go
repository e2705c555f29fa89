// Package credfile provides the move of a profile's long-term keys out of
// the shared credentials file (~/.aws/credentials), to be kept elsewhere.
package credfile

import (
	"fmt"
	"slices"
	"strings"
)

// Keys are the static keys of a section of the credentials file.
type Keys struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is empty in the keys Find returns: a section with one
	// holds temporary keys, which Find refuses.
	SessionToken string
}

// The settings of a section that hold keys.
const (
	accessKeyID     = "aws_access_key_id"
	secretAccessKey = "aws_secret_access_key"
	sessionToken    = "aws_session_token"
	securityToken   = "aws_security_token" // botocore's older name for it
)

// Find returns the keys of section [profile] of a credentials file, read as
// botocore and the Go SDK read it. So that nothing is lost when the section
// is removed, and nothing is read differently by either SDK, it refuses
// a section that appears twice, sets a key twice, holds a session token or
// settings other than the keys, lacks a key, or has lines the two SDKs read
// differently (indented lines, quoted values, comments after a value).
// Its errors are one line saying what to do, and never quote a value.
func Find(text []byte, profile string) (Keys, error) {
	s, err := locate(text, profile)
	if err != nil {
		return Keys{}, err
	}
	sets, err := settings(s)
	if err != nil {
		return Keys{}, err
	}
	seen := map[string][]int{} // key: line numbers
	var keys []string          // in the order they appear
	for _, set := range sets {
		if seen[set.key] == nil {
			keys = append(keys, set.key)
		}
		seen[set.key] = append(seen[set.key], set.line)
	}
	for _, k := range keys {
		if lines := seen[k]; len(lines) > 1 {
			return Keys{}, fmt.Errorf("section [%s] sets %s %d times (lines %s): keep one and run again", profile, k, len(lines), join(lines))
		}
	}
	get := func(key string) (setting, bool) {
		i := slices.IndexFunc(sets, func(s setting) bool { return s.key == key })
		if i < 0 || sets[i].sdk == "" {
			return setting{}, false
		}
		return sets[i], true
	}
	for _, k := range []string{sessionToken, securityToken} {
		if _, ok := get(k); ok {
			return Keys{}, fmt.Errorf("section [%s] has %s: its keys are temporary ones from STS, not an IAM user's long-term keys, so there is nothing to import; store a long-term access key instead", profile, k)
		}
	}
	id, okID := get(accessKeyID)
	secret, okSecret := get(secretAccessKey)
	switch {
	case !okID && !okSecret:
		return Keys{}, fmt.Errorf("section [%s] has no %s or %s: the profile has no long-term keys in this file to import", profile, accessKeyID, secretAccessKey)
	case !okID:
		return Keys{}, fmt.Errorf("section [%s] has no %s (or it is empty): add it, or store the keys another way", profile, accessKeyID)
	case !okSecret:
		return Keys{}, fmt.Errorf("section [%s] has no %s (or it is empty): add it, or store the keys another way", profile, secretAccessKey)
	}
	var others []string
	for _, k := range keys {
		if _, set := get(k); set && k != accessKeyID && k != secretAccessKey {
			others = append(others, k)
		}
	}
	if len(others) > 0 {
		return Keys{}, fmt.Errorf("section [%s] also sets %s, which removing the section would lose: move that to %s in ~/.aws/config and run again", profile, strings.Join(others, ", "), configSection(profile))
	}
	for _, set := range []setting{id, secret} {
		if set.sdk != set.boto {
			return Keys{}, fmt.Errorf("section [%s]: line %d has quotes or a comment around the value of %s, which botocore and the Go SDK read differently: leave only the value and run again", profile, set.line, set.key)
		}
	}
	return Keys{AccessKeyID: id.sdk, SecretAccessKey: secret.sdk}, nil
}

// Remove returns text without section [profile]: its header line and every
// line after it up to the next header line, comments and blank lines
// included. Every other byte is kept, line endings and all. It refuses a
// section that is missing or appears twice.
func Remove(text []byte, profile string) ([]byte, error) {
	s, err := locate(text, profile)
	if err != nil {
		return nil, err
	}
	return slices.Concat(text[:s.start], text[s.end:]), nil
}

// locate returns the one section named profile.
func locate(text []byte, profile string) (section, error) {
	if profile == "" || strings.ContainsAny(profile, " \t\r\n[]#;") {
		return section{}, fmt.Errorf("profile name %q cannot name a section of the credentials file", profile)
	}
	secs := parse(text)
	var found []section
	var names []string
	for _, s := range secs {
		if s.name == profile {
			found = append(found, s)
		}
		names = append(names, "["+s.name+"]")
	}
	switch {
	case len(found) > 1:
		var lines []int
		for _, s := range found {
			lines = append(lines, s.header.num)
		}
		return section{}, fmt.Errorf("section [%s] appears %d times in the credentials file (lines %s): merge them into one and run again", profile, len(found), join(lines))
	case len(found) == 1:
		return found[0], nil
	case slices.Contains(names, "[profile "+profile+"]"):
		return section{}, fmt.Errorf("the credentials file has [profile %s], which AWS tools ignore there: rename it to [%s] and run again", profile, profile)
	case len(names) == 0:
		return section{}, fmt.Errorf("the credentials file has no sections, so no [%s]", profile)
	}
	return section{}, fmt.Errorf("the credentials file has no section [%s], only %s: check the profile name", profile, strings.Join(names, ", "))
}

// settings returns the settings of s, refusing lines that botocore and the
// Go SDK read differently, or that are not settings at all.
func settings(s section) ([]setting, error) {
	if indented(s.header.text) {
		return nil, fmt.Errorf("section [%s]: its header on line %d is indented, which botocore and the Go SDK read differently: remove the spaces before it and run again", s.name, s.header.num)
	}
	if inner, _ := brackets(s.header.text); inner != s.name {
		return nil, fmt.Errorf("section [%s]: its header on line %d has spaces inside the brackets, which botocore keeps and the Go SDK drops: write [%s] and run again", s.name, s.header.num, s.name)
	}
	if indented(s.next.text) {
		return nil, fmt.Errorf("section [%s]: the next header, on line %d, is indented, which botocore and the Go SDK read differently: remove the spaces before it and run again", s.name, s.next.num)
	}
	var sets []setting
	for _, l := range s.lines {
		if blank(l.text) {
			continue
		}
		if indented(l.text) {
			return nil, fmt.Errorf("section [%s]: line %d is indented, which botocore and the Go SDK read differently: remove the spaces before it and run again", s.name, l.num)
		}
		set, ok := parseSetting(l)
		if !ok {
			return nil, fmt.Errorf("section [%s]: line %d is neither a setting (key = value) nor a comment: fix or remove it and run again", s.name, l.num)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// configSection names the section of the config file for profile.
func configSection(profile string) string {
	if profile == "default" {
		return "[default]"
	}
	return "[profile " + profile + "]"
}

// join lists line numbers: "3, 7".
func join(nums []int) string {
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
