//go:build integration

// Package integration tests brokerd with its real parts together: the
// brokerd binary, a gnome-keyring Secret Service, moto_server as STS, and the
// aws CLI, boto3 and the Go SDK as clients. Run it through scripts/with-keyring,
// which provides the Secret Service on a private D-Bus session:
//
//	scripts/with-keyring go test -race -count=1 -tags integration ./integration/...
//
// harness_test.go holds the helpers (newEnv, Env.run, Env.startDaemon);
// moto_test.go the STS side (moto_server, the IAM-checking instance and the
// recording proxy).
package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/brokerd/brokerd/internal/motoserver"
)

var (
	// brokerdBin is the brokerd binary built from ./cmd/brokerd, with the
	// race detector when the tests have it.
	brokerdBin string
	// openSTS is a moto_server that accepts any keys, shared by all tests.
	openSTS *motoserver.Server
	// authSTS is a moto_server that checks keys and IAM policies, shared by
	// the tests that need STS to refuse.
	authSTS *iamSTS
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		fmt.Fprintln(os.Stderr, "integration: DBUS_SESSION_BUS_ADDRESS is empty, so brokerd has no Secret Service to keep keys in: "+
			"run the tests through scripts/with-keyring, which starts an unlocked gnome-keyring on a private session bus:\n"+
			"\tscripts/with-keyring go test -race -count=1 -tags integration ./integration/...")
		return 1
	}
	for _, tool := range []string{"moto_server", "aws", "python3", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %s is not on PATH: the tests need go, moto_server, the aws CLI and boto3 (pip install 'moto[server]' awscli boto3)\n", tool)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "brokerd-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	// Build brokerd while the moto servers start: both take seconds.
	var wg sync.WaitGroup
	var buildErr, stsErr, authErr error
	wg.Go(func() { brokerdBin, buildErr = buildBrokerd(filepath.Join(dir, "bin")) })
	wg.Go(func() { openSTS, stsErr = startMoto(dir, "moto") })
	wg.Go(func() { authSTS, authErr = startIAMSTS(dir) })
	wg.Wait()
	if openSTS != nil {
		defer openSTS.Stop()
	}
	if authSTS != nil {
		defer authSTS.stop()
	}
	for _, err := range []error{buildErr, stsErr, authErr} {
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
	}
	return m.Run()
}

// buildBrokerd builds ./cmd/brokerd into dir and returns the binary's path.
func buildBrokerd(dir string) (string, error) {
	bin := filepath.Join(dir, "brokerd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		// A data race in the daemon then fails the test that ran it.
		args = append(args, "-race")
	}
	args = append(args, "github.com/brokerd/brokerd/cmd/brokerd")
	var out bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %v: %v\n%s", args, err, out.Bytes())
	}
	return bin, nil
}
