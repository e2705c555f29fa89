// Package wire provides what other programs depend on: the environment
// variables the AWS SDKs read, the credentials JSON they parse, the error
// body they show, the endpoint's default address and the loopback rule,
// and the quoting of values for shells.
package wire

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The variables of the SDKs' container credentials provider.
const (
	VarURL         = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	VarTokenFile   = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	VarToken       = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	VarRelativeURI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	VarRegion      = "AWS_REGION"
	VarDefRegion   = "AWS_DEFAULT_REGION" // the only one aws CLI v1 reads
	VarProfile     = "BROKERD_PROFILE"    // for shell prompts, as AWS_VAULT
	VarRegionGiven = "BROKERD_REGION"     // the region brokerd gave VarRegion and VarDefRegion
)

// DefaultListen is the endpoint's address when none is given: the one
// loopback literal every SDK version accepts over plain http.
const DefaultListen = "127.0.0.1:9911"

// CredentialsPath is the endpoint's path for a profile's credentials.
const CredentialsPath = "/v1/credentials"

// The relay: the address containers reach it at on brokerd's Docker
// network (one of the three link-local addresses every SDK accepts over
// plain http), and the header in which it tells the daemon the address of
// the container that asked. Only the relay socket's requests are believed.
const (
	RelayAddr         = "169.254.170.2"
	HeaderRelayClient = "X-Brokerd-Relay-Client"
)

// Credentials is the body the SDKs' container credentials providers read.
// Expiration is UTC with a Z, the only form the JS SDK accepts.
type Credentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
	AccountID       string `json:"AccountId,omitempty"`
	RoleArn         string `json:"RoleArn,omitempty"`
}

// Expiry formats t as Credentials.Expiration wants it.
func Expiry(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Error is the body of every error answer: Go SDKs parse it with exactly
// Content-Type application/json, botocore shows it raw, Java reads message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// EncodeError returns the JSON error body.
func EncodeError(code, message string) []byte {
	b, _ := json.Marshal(Error{code, message})
	return b
}

// CheckListen reports why addr may not be the endpoint's address: it must
// be 127.0.0.1 (localhost is taken for it) with a port other than 80,
// since clients send a Host header without the default port.
func CheckListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: want 127.0.0.1:PORT", addr)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	// The port as net.Listen reads it: "080" and service names such as
	// "www" are port 80 too.
	n, perr := net.LookupPort("tcp", port)
	switch {
	case ip == nil || !ip.IsLoopback():
		return "", fmt.Errorf("listen address %q is not a loopback address: brokerd serves this machine only; use 127.0.0.1:PORT", addr)
	case !ip.Equal(net.IPv4(127, 0, 0, 1)):
		return "", fmt.Errorf("listen address %q: use 127.0.0.1:PORT, the one loopback address every AWS SDK accepts", addr)
	case perr != nil:
		return "", fmt.Errorf("listen address %q: %q is not a port: use 127.0.0.1:PORT with PORT from 1 to 65535 (0 picks a free one)", addr, port)
	case n == 80:
		return "", fmt.Errorf("listen address %q: port 80 is not supported (clients then send a Host header without the port); use 127.0.0.1:9911 or another port", addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// ShellQuote quotes s for POSIX shells and fish when it needs quoting. A
// leading = is quoted: zsh expands =ls to the path of ls, even after
// export NAME=. Quotes and backslashes are escaped outside the single
// quotes, where POSIX shells and fish read \' and \\ alike; inside them
// fish reads those as escapes.
func ShellQuote(s string) string {
	if s != "" && s[0] != '=' && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:._-@=+,") == "" {
		return s
	}
	return "'" + shellEscapes.Replace(s) + "'"
}

var shellEscapes = strings.NewReplacer(`'`, `'\''`, `\`, `'\\'`)

// ShellJoin shows argv as a POSIX shell command line.
func ShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// Mask shows an access key id as AKIA…WXYZ, for logs and listings; it
// never shows a secret.
func Mask(id string) string {
	if len(id) < 12 {
		return "…"
	}
	return id[:4] + "…" + id[len(id)-4:]
}
