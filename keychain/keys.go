package keychain

import (
	"fmt"
	"regexp"
)

// Keys are an IAM user's long-term access keys.
type Keys struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// The shapes leave lengths to len: a counted repetition such as {0,63}
// compiles to a program of that many copies, kept by every process.
var (
	accessKeyID     = regexp.MustCompile(`^AKIA[A-Z0-9]+$`)
	secretAccessKey = regexp.MustCompile(`^[A-Za-z0-9/+]+$`)
	profileName     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@+=-]*$`)
)

// Validate reports, without quoting either value, why k is not a pair of
// long-term IAM user keys.
func (k Keys) Validate() error {
	switch {
	case k.AccessKeyID == "":
		return fmt.Errorf("access key id is empty")
	case len(k.AccessKeyID) != 20 || !accessKeyID.MatchString(k.AccessKeyID):
		return fmt.Errorf("access key id must be 20 characters, capital letters and digits, starting with AKIA (a long-term IAM user key); got %d characters", len(k.AccessKeyID))
	case k.SecretAccessKey == "":
		return fmt.Errorf("secret access key is empty")
	case len(k.SecretAccessKey) != 40 || !secretAccessKey.MatchString(k.SecretAccessKey):
		return fmt.Errorf("secret access key must be 40 characters of letters, digits, / and +; got %d characters", len(k.SecretAccessKey))
	}
	return nil
}

// ValidProfile reports why name cannot name a profile in the keychain.
func ValidProfile(name string) error {
	if len(name) > 64 || !profileName.MatchString(name) {
		return fmt.Errorf("profile name %q is not valid: start it with a letter or digit, then use letters, digits and _.@+=- (at most 64 characters)", name)
	}
	return nil
}

// Mask shows an access key id as AKIA…WXYZ, for logs and listings.
func Mask(id string) string {
	if len(id) < 12 {
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}
