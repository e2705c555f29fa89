// Package keyid provides the check of an AWS access key id typed or pasted
// by a person, before the secret that goes with it is asked for.
package keyid

import (
	"fmt"
	"strings"
	"unicode"
)

// expected says what a long-term access key id looks like.
const expected = "AKIA followed by 16 upper-case letters and digits 2-7"

// others names the ids, with another prefix, that are easily taken for an
// access key id of an IAM user.
var others = map[string]string{
	"ASIA": "a temporary access key from STS, not a long-term key: use an access key of an IAM user",
	"AIDA": "the unique id of an IAM user, not an access key id: create an access key for the user (IAM console, Security credentials)",
	"AROA": "the unique id of an IAM role, not an access key id: roles have no long-term keys",
	"AGPA": "the unique id of an IAM group, not an access key id",
	"ANPA": "the unique id of a managed policy, not an access key id",
	"APKA": "the id of an SSH or CloudFront public key, not an access key id",
}

// Check reports why id is not the access key id of an IAM user's long-term
// key: AKIA and 16 characters of A-Z and 2-7. Its messages name the problem
// and quote at most one character of id, never the whole of it.
func Check(id string) error {
	if id == "" {
		return fmt.Errorf("access key id is empty: expected %s", expected)
	}
	if strings.TrimSpace(id) != id {
		return fmt.Errorf("access key id has spaces or a line break before or after it: enter only the key id, %s", expected)
	}
	if i := strings.IndexFunc(id, unicode.IsSpace); i >= 0 {
		return fmt.Errorf("access key id has a space at character %d: enter only the key id, %s", i+1, expected)
	}
	if len(id) == 40 { // checked first, so as to quote nothing of a secret
		return fmt.Errorf("access key id has 40 characters, like a secret access key: enter the access key id (20 characters, %s) first", expected)
	}
	if len(id) >= 4 {
		if why, ok := others[id[:4]]; ok {
			return fmt.Errorf("access key id starts with %s: that is %s", id[:4], why)
		}
	}
	if len(id) != 20 {
		return fmt.Errorf("access key id has %d characters, want 20: %s", len(id), expected)
	}
	if strings.ToUpper(id) != id {
		return fmt.Errorf("access key id has lower-case letters: access key ids are all upper-case, %s", expected)
	}
	if !strings.HasPrefix(id, "AKIA") {
		return fmt.Errorf("access key id starts with %q, want AKIA: %s", id[:4], expected)
	}
	for i, r := range id[4:] {
		if !('A' <= r && r <= 'Z' || '2' <= r && r <= '7') {
			return fmt.Errorf("access key id has %q at character %d: after AKIA come only upper-case letters and digits 2-7", r, i+5)
		}
	}
	return nil
}
