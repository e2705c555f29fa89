package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/brokerd/brokerd/console"
	"github.com/brokerd/brokerd/internal/federationfake"
)

var (
	roleCreds = aws.Credentials{AccessKeyID: "ASIAROLEROLEROLEROLE", SecretAccessKey: "role-secret", SessionToken: "role-session-token"}
	userKeys  = aws.Credentials{AccessKeyID: "AKIAUSERUSERUSERUSER", SecretAccessKey: "user-secret"}
	fedCreds  = aws.Credentials{AccessKeyID: "ASIAFEDFEDFEDFEDFEDF", SecretAccessKey: "fed-secret", SessionToken: "fed-session-token"}
)

// fakeSTS answers GetFederationToken with fedCreds and records its input.
type fakeSTS struct {
	signer aws.Credentials // the keys it was made with
	in     *sts.GetFederationTokenInput
	err    error
}

var _ console.STS = (*fakeSTS)(nil)

func (f *fakeSTS) GetFederationToken(_ context.Context, in *sts.GetFederationTokenInput, _ ...func(*sts.Options)) (*sts.GetFederationTokenOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &sts.GetFederationTokenOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String(fedCreds.AccessKeyID), SecretAccessKey: aws.String(fedCreds.SecretAccessKey),
		SessionToken: aws.String(fedCreds.SessionToken), Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

// accept is a federationfake check that takes role and federated
// credentials only.
func accept(r federationfake.Request) error {
	if r.Credentials != roleCreds && r.Credentials != fedCreds {
		return errors.New("unknown credentials")
	}
	return nil
}

func TestClient_URL(t *testing.T) {
	tests := []struct {
		name         string
		creds        aws.Credentials
		req          console.Request
		stsErr       error
		wantDest     string
		wantSigned   aws.Credentials // what getSigninToken received
		wantDuration string          // its SessionDuration
		wantFedSecs  int32           // GetFederationToken's DurationSeconds; 0: not called
		wantErr      bool
	}{
		{name: "role credentials", creds: roleCreds, req: console.Request{Region: "us-west-2"},
			wantDest: "https://us-west-2.console.aws.amazon.com/console/home?region=us-west-2", wantSigned: roleCreds},
		{name: "role credentials for two hours", creds: roleCreds, req: console.Request{Region: "eu-west-1", Destination: "s3/buckets", Duration: 2 * time.Hour},
			wantDest: "https://eu-west-1.console.aws.amazon.com/s3/buckets?region=eu-west-1", wantSigned: roleCreds, wantDuration: "7200"},
		{name: "long-term keys", creds: userKeys, req: console.Request{},
			wantDest: "https://console.aws.amazon.com/", wantSigned: fedCreds, wantFedSecs: 3600},
		{name: "long-term keys for two hours", creds: userKeys, req: console.Request{Region: "us-east-1", Destination: "iam", Duration: 2 * time.Hour},
			wantDest: "https://us-east-1.console.aws.amazon.com/iam?region=us-east-1", wantSigned: fedCreds, wantFedSecs: 7200},
		{name: "GetFederationToken fails", creds: userKeys, stsErr: errors.New("AccessDenied"), wantErr: true},
		{name: "refused credentials", creds: aws.Credentials{AccessKeyID: "ASIAOTHER", SecretAccessKey: "other-secret", SessionToken: "other-token"}, wantErr: true},
		{name: "session too long", creds: roleCreds, req: console.Request{Duration: 13 * time.Hour}, wantErr: true},
		{name: "no secret", creds: aws.Credentials{AccessKeyID: "AKIA"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fed := federationfake.New(federationfake.Config{Check: accept})
			defer fed.Close()
			stsClient := &fakeSTS{err: tt.stsErr}
			c := console.New(console.Config{FederationURL: fed.URL,
				NewSTS: func(_ context.Context, creds aws.Credentials, _ string) (console.STS, error) {
					stsClient.signer = creds
					return stsClient, nil
				}})
			got, err := c.URL(context.Background(), tt.creds, tt.req)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("URL() = %q, want an error", got)
				}
				checkNoSecrets(t, err.Error(), tt.creds)
				return
			}
			if err != nil {
				t.Fatalf("URL() = %v", err)
			}
			checkNoSecrets(t, got, tt.creds, fedCreds)
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if base := strings.TrimSuffix(got, "?"+u.RawQuery); base != fed.URL || q.Get("Action") != "login" || q.Get("Issuer") != "brokerd" ||
				q.Get("Destination") != tt.wantDest || q.Get("SigninToken") == "" {
				t.Errorf("URL() = %q, want a login at %s to %s", got, fed.URL, tt.wantDest)
			}
			reqs := fed.Requests()
			if len(reqs) != 1 || reqs[0].Credentials != tt.wantSigned || reqs[0].SessionDuration != tt.wantDuration {
				t.Errorf("getSigninToken requests = %+v, want one with %s and SessionDuration %q", reqs, tt.wantSigned.AccessKeyID, tt.wantDuration)
			}
			var fedSecs int32
			if in := stsClient.in; in != nil {
				fedSecs = aws.ToInt32(in.DurationSeconds)
				if aws.ToString(in.Name) != "brokerd" || !strings.Contains(aws.ToString(in.Policy), `"Action":"*"`) || stsClient.signer != userKeys {
					t.Errorf("GetFederationToken(%+v) signed by %s, want name brokerd, an allow-all policy, the user's keys", in, stsClient.signer.AccessKeyID)
				}
			}
			if fedSecs != tt.wantFedSecs {
				t.Errorf("GetFederationToken DurationSeconds = %d, want %d", fedSecs, tt.wantFedSecs)
			}
			// The browser's visit signs in once.
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for i, want := range []int{http.StatusFound, http.StatusBadRequest} {
				resp, err := noFollow.Get(got)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want || (want == http.StatusFound && resp.Header.Get("Location") != tt.wantDest) {
					t.Errorf("visit %d of the URL = %s to %q, want %d to %s", i+1, resp.Status, resp.Header.Get("Location"), want, tt.wantDest)
				}
			}
		})
	}
}

// An endpoint that is down, or that is not a URL at all (a typo in
// BROKERD_FEDERATION_URL), is an error that quotes no credentials.
func TestClient_URLUnreachable(t *testing.T) {
	fed := federationfake.New(federationfake.Config{})
	fed.Close()
	for _, endpoint := range []string{fed.URL, "http://127.0.0.1:1x/federation", "http://[::1/federation", "ftp://127.0.0.1/federation"} {
		_, err := console.New(console.Config{FederationURL: endpoint}).URL(context.Background(), roleCreds, console.Request{})
		if err == nil {
			t.Fatalf("URL() with the endpoint %s = nil error, want one", endpoint)
		}
		checkNoSecrets(t, err.Error(), roleCreds)
	}
}

func checkNoSecrets(t *testing.T, s string, creds ...aws.Credentials) {
	t.Helper()
	for _, c := range creds {
		for _, secret := range []string{c.SecretAccessKey, c.SessionToken} {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("%q holds the secret %q", s, secret)
			}
			if secret != "" && strings.Contains(s, url.QueryEscape(secret)) {
				t.Errorf("%q holds the escaped secret %q", s, secret)
			}
		}
	}
}
