//go:build integration

package console_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/brokerd/brokerd/console"
	"github.com/brokerd/brokerd/internal/federationfake"
)

// TestClient_URLWithMoto signs in with long-term keys through the SDK's
// own STS client, configured from AWS_ENDPOINT_URL_STS, against moto.
func TestClient_URLWithMoto(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_STS", startMoto(t))
	keys := aws.Credentials{AccessKeyID: "AKIA2BROKERDTESTUSER", SecretAccessKey: "brokerdTestUserSecretKey0123456789abcdef"}
	fed := federationfake.New(federationfake.Config{Check: func(r federationfake.Request) error {
		if r.Credentials.AccessKeyID == keys.AccessKeyID || r.Credentials.SessionToken == "" || r.SessionDuration != "" {
			return fmt.Errorf("not federation token credentials: %s", r.Credentials.AccessKeyID)
		}
		return nil
	}})
	defer fed.Close()
	got, err := console.New(console.Config{FederationURL: fed.URL}).URL(context.Background(), keys,
		console.Request{Region: "us-east-1", Duration: 20 * time.Minute})
	if err != nil {
		t.Fatalf("URL() = %v", err)
	}
	if !strings.HasPrefix(got, fed.URL+"?Action=login&Issuer=brokerd&Destination=") || strings.Contains(got, keys.SecretAccessKey) {
		t.Errorf("URL() = %q, want a login at the fake without the keys", got)
	}
	if n := len(fed.Requests()); n != 1 {
		t.Errorf("getSigninToken requests = %d, want 1", n)
	}
}

// startMoto starts moto_server on a free loopback port for the test, and
// returns its URL once it answers.
func startMoto(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", port)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url
		}
	}
	t.Fatal("moto_server did not answer within 30 s")
	return ""
}
