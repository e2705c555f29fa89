// Command awsvaultecs serves aws-vault's ECS credentials server with fixed
// credentials, so that scripts/load can measure it beside brokerd.
//
// The aws-vault binary cannot be measured as it ships: `aws-vault exec
// --ecs-server` first gets credentials from STS, ignores
// AWS_ENDPOINT_URL_STS and so needs the internet. This program runs the
// same server code, aws-vault v7.2.0's server.NewEcsServer, in place of
// the command. What it keeps of aws-vault, request for request:
//   - the net/http server as aws-vault configures it (a zero http.Server:
//     no timeouts), on 127.0.0.1 and a free port;
//   - its middleware: withLogging (time.Now, a wrapped ResponseWriter, a
//     log.Printf per request) around withAuthorizationCheck (the
//     Authorization header compared with the token) around a ServeMux;
//   - DefaultRoute: the credentials from an aws.CredentialsCache, encoded
//     per request with json.Encoder from a map[string]string.
//
// What it leaves out: the keyring, the profile config and STS. The
// provider under the cache returns fixed credentials with a session token
// and an expiry 12 hours ahead, so every request after the first is a
// cache hit, as in aws-vault between refreshes. The /role-arn/ route (it
// assumes a role through STS per ARN) is not exercised.
//
// aws-vault's log goes to io.Discard unless --debug (cli/global.go), so
// here too unless -log: log.Printf then returns before formatting, and the
// middleware costs only its clock reads and allocations.
//
// Usage: awsvaultecs [-size N] [-token-file FILE] [-log]
// It prints its base URL on stdout, then the token when it made one.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/99designs/aws-vault/v7/server"
	"github.com/aws/aws-sdk-go-v2/aws"
)

func main() {
	size := flag.Int("size", 0, "pad the session token so the body is this many bytes (0: a 356-byte token, as STS's)")
	tokenFile := flag.String("token-file", "", "read the Authorization token from this file (empty: aws-vault makes one and it is printed)")
	logRequests := flag.Bool("log", false, "log every request to stderr, as aws-vault --debug does")
	flag.Parse()
	if err := run(*size, *tokenFile, *logRequests); err != nil {
		fmt.Fprintln(os.Stderr, "awsvaultecs:", err)
		os.Exit(1)
	}
}

func run(size int, tokenFile string, logRequests bool) error {
	if !logRequests {
		log.SetOutput(io.Discard)
	}
	token := ""
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("read the token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return fmt.Errorf("token file %s is empty: give a file with the Authorization value", tokenFile)
		}
	}
	creds := aws.Credentials{
		AccessKeyID:     "ASIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
		CanExpire:       true,
		Expires:         time.Now().Add(12 * time.Hour).Truncate(time.Second),
		Source:          "awsvaultecs",
	}
	tokenLen := 356
	if size > 0 {
		tokenLen = size - len(body(creds))
		if tokenLen < 0 {
			return fmt.Errorf("-size %d: the smallest body is %d bytes", size, size-tokenLen)
		}
	}
	creds.SessionToken = strings.Repeat("x", tokenLen)
	provider := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })

	// As aws-vault exec --ecs-server calls it, but with a fixed provider
	// and no profile config (only the /role-arn/ route reads it).
	e, err := server.NewEcsServer(context.Background(), provider, nil, token, 0, false)
	if err != nil {
		return err
	}
	// The URL on stdout tells the load script where to send requests; the
	// token only when aws-vault made it, so a given one stays in its file.
	fmt.Println(e.BaseURL())
	if token == "" {
		fmt.Println(e.AuthToken())
	}
	return e.Serve()
}

// body returns the bytes aws-vault's writeCredsToResponse writes for creds.
func body(creds aws.Credentials) []byte {
	b, _ := json.Marshal(map[string]string{
		"AccessKeyId":     creds.AccessKeyID,
		"SecretAccessKey": creds.SecretAccessKey,
		"Token":           creds.SessionToken,
		"Expiration":      creds.Expires.UTC().Format(time.RFC3339),
	})
	return append(b, '\n')
}
