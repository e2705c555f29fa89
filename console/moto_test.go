//go:build integration

package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/brokerd/brokerd/console"
	"github.com/brokerd/brokerd/internal/federationfake"
	"github.com/brokerd/brokerd/internal/motoserver"
)

// TestClient_URLWithMoto signs in with long-term keys through the SDK's
// own STS client, configured from AWS_ENDPOINT_URL_STS, against moto.
func TestClient_URLWithMoto(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_STS", motoserver.Run(t))
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
