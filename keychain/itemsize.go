package keychain

import (
	"encoding/base64"
	"fmt"
)

// macOSCommandMax is the longest command line that go-keyring's macOS
// backend (v0.2.8, keyring_darwin.go) gives `security -i` to store an
// item; it refuses a longer one with ErrSetDataTooBig, but only after
// starting the command, which it then never waits for: each such Set
// leaves a process behind. So brokerd measures first.
const macOSCommandMax = 4096

// macOSCommandLen is the length of that command line for secret: the
// secret base64'd with a prefix, every value quoted (an upper bound for
// go-keyring's shell quoting).
func macOSCommandLen(service, user, secret string) int {
	quote := func(s string) string { return "'" + s + "'" }
	password := "go-keyring-base64:" + base64.StdEncoding.EncodeToString([]byte(secret))
	return len(fmt.Sprintf("add-generic-password -U -s %s -a %s -w %s\n", quote(service), quote(user), quote(password)))
}
