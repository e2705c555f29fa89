package iamkeys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

var signer = credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")

const (
	listAnswer = `<ListAccessKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListAccessKeysResult>
<AccessKeyMetadata><member><UserName>alice</UserName><AccessKeyId>AKIAAAAAAAAAAAAAAAA1</AccessKeyId><Status>Active</Status></member>
<member><UserName>alice</UserName><AccessKeyId>AKIAAAAAAAAAAAAAAAA2</AccessKeyId><Status>Inactive</Status></member></AccessKeyMetadata>
<IsTruncated>false</IsTruncated></ListAccessKeysResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></ListAccessKeysResponse>`
	createAnswer = `<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>alice</UserName>
<AccessKeyId>AKIANEWNEWNEWNEW0001</AccessKeyId><Status>Active</Status><SecretAccessKey>newsecretnewsecretnewsecretnewsecret0001</SecretAccessKey>
</AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>`
	deniedAnswer = `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User alice is not authorized</Message></Error><RequestId>r2</RequestId></ErrorResponse>`
)

// fakeIAM answers each call with the status and body that answer gives
// for its form, and records the forms and Authorization headers.
type fakeIAM struct {
	answer func(form url.Values, n int) (int, string)
	calls  atomic.Int32
	forms  []url.Values
	auth   []string
}

func (f *fakeIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.forms = append(f.forms, form)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	status, answer := f.answer(form, int(f.calls.Add(1)))
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func newClient(t *testing.T, f *fakeIAM) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	c.retryer = retry.NewStandard(noBackoff)
	return c
}

// noBackoff makes a retryer retry at once, so that tests do not wait.
func noBackoff(o *retry.StandardOptions) {
	o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
}

func TestClient_Calls(t *testing.T) {
	f := &fakeIAM{answer: func(form url.Values, _ int) (int, string) {
		switch form.Get("Action") {
		case "ListAccessKeys":
			return 200, listAnswer
		case "CreateAccessKey":
			return 200, createAnswer
		}
		return 200, `<DeleteAccessKeyResponse/>`
	}}
	c := newClient(t, f)
	ctx := context.Background()
	ids, err := c.ListAccessKeys(ctx, signer, "alice")
	if err != nil || strings.Join(ids, ",") != "AKIAAAAAAAAAAAAAAAA1,AKIAAAAAAAAAAAAAAAA2" {
		t.Errorf("ListAccessKeys(alice) = %v, %v; want the two ids", ids, err)
	}
	key, err := c.CreateAccessKey(ctx, signer, "alice")
	if err != nil || key.AccessKeyID != "AKIANEWNEWNEWNEW0001" || key.SecretAccessKey != "newsecretnewsecretnewsecretnewsecret0001" {
		t.Errorf("CreateAccessKey(alice) = %v, %v; want the new key", key.AccessKeyID, err)
	}
	if err := c.DeleteAccessKey(ctx, signer, "alice", "AKIAAAAAAAAAAAAAAAA1"); err != nil {
		t.Errorf("DeleteAccessKey = %v", err)
	}
	want := []string{"Action=ListAccessKeys&UserName=alice&Version=2010-05-08", "Action=CreateAccessKey&UserName=alice&Version=2010-05-08",
		"AccessKeyId=AKIAAAAAAAAAAAAAAAA1&Action=DeleteAccessKey&UserName=alice&Version=2010-05-08"}
	for i, form := range f.forms {
		if got := form.Encode(); got != want[i] {
			t.Errorf("call %d form = %q, want %q", i, got, want[i])
		}
		// Signed by the caller's key for IAM in the configured region.
		if a := f.auth[i]; !strings.Contains(a, "Credential=AKIAIOSFODNN7EXAMPLE/") || !strings.Contains(a, "/eu-west-1/iam/aws4_request") {
			t.Errorf("call %d Authorization = %q, want a SigV4 signature for iam in eu-west-1", i, a)
		}
	}
}

func TestClient_Errors(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(url.Values, int) (int, string)
		code     string
		attempts int32
	}{
		{"access denied, not retried", func(url.Values, int) (int, string) { return 403, deniedAnswer }, "AccessDenied", 1},
		{"no such entity", func(url.Values, int) (int, string) {
			return 404, `<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>no key</Message></Error></ErrorResponse>`
		}, CodeNoSuchEntity, 1},
		{"throttled, then served", func(_ url.Values, n int) (int, string) {
			if n == 1 {
				return 400, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`
			}
			return 200, `<DeleteAccessKeyResponse/>`
		}, "", 2},
		{"server error, retried up to the standard 3 attempts", func(url.Values, int) (int, string) { return 503, "unavailable" }, "ServiceUnavailable", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeIAM{answer: tt.answer}
			err := newClient(t, f).DeleteAccessKey(context.Background(), signer, "alice", "AKIAAAAAAAAAAAAAAAA1")
			var api smithy.APIError
			if tt.code == "" && err != nil || tt.code != "" && (!errors.As(err, &api) || api.ErrorCode() != tt.code) {
				t.Errorf("DeleteAccessKey() = %v, want code %q", err, tt.code)
			}
			if got := f.calls.Load(); got != tt.attempts {
				t.Errorf("attempts = %d, want %d", got, tt.attempts)
			}
		})
	}
}

// An answer without the key, or one that is not XML, is an error that
// does not quote the answer, which may hold a secret.
func TestClient_MalformedAnswer(t *testing.T) {
	for _, answer := range []string{`<CreateAccessKeyResponse/>`, `secret<`} {
		f := &fakeIAM{answer: func(url.Values, int) (int, string) { return 200, answer }}
		_, err := newClient(t, f).CreateAccessKey(context.Background(), signer, "alice")
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("CreateAccessKey() with answer %q = %v, want an error that does not quote it", answer, err)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		env, region          string
		ignore               bool // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
		base                 *string
		wantURL, wantSigning string
		wantErr              bool
	}{
		{region: "eu-west-1", wantURL: "https://iam.amazonaws.com", wantSigning: "us-east-1"},
		{region: "", wantURL: "https://iam.amazonaws.com", wantSigning: "us-east-1"},
		{region: "cn-northwest-1", wantURL: "https://iam.cn-north-1.amazonaws.com.cn", wantSigning: "cn-north-1"},
		{region: "us-gov-east-1", wantURL: "https://iam.us-gov.amazonaws.com", wantSigning: "us-gov-west-1"},
		{region: "us-iso-east-1", wantErr: true},
		{region: "eu-west-1", base: aws.String("http://127.0.0.1:5000"), wantURL: "http://127.0.0.1:5000", wantSigning: "eu-west-1"},
		{env: "http://127.0.0.1:6000", region: "eu-west-1", base: aws.String("http://127.0.0.1:5000"), wantURL: "http://127.0.0.1:6000", wantSigning: "eu-west-1"},
		{env: "http://127.0.0.1:6000", ignore: true, region: "eu-west-1", wantURL: "https://iam.amazonaws.com", wantSigning: "us-east-1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s ignore=%v", tt.region, tt.env, tt.ignore), func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_IAM", tt.env)
			t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", fmt.Sprint(tt.ignore))
			env, err := config.NewEnvConfig()
			if err != nil {
				t.Fatal(err)
			}
			gotURL, gotSigning, err := resolve(aws.Config{Region: tt.region, BaseEndpoint: tt.base, ConfigSources: []any{env}})
			if (err != nil) != tt.wantErr || gotURL != tt.wantURL || gotSigning != tt.wantSigning {
				t.Errorf("resolve(%q) = %q, %q, %v; want %q, %q, error %v", tt.region, gotURL, gotSigning, err, tt.wantURL, tt.wantSigning, tt.wantErr)
			}
		})
	}
}

// A retryer in the config (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE) replaces
// the standard one, as in the SDK's clients.
func TestNew_ConfiguredRetryer(t *testing.T) {
	f := &fakeIAM{answer: func(url.Values, int) (int, string) { return 503, "unavailable" }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Retryer: func() aws.Retryer {
		return retry.AddWithMaxAttempts(retry.NewStandard(noBackoff), 5)
	}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAccessKey(context.Background(), signer, "alice", "AKIAAAAAAAAAAAAAAAA1"); err == nil {
		t.Fatal("DeleteAccessKey() = nil, want the 503")
	}
	if got := f.calls.Load(); got != 5 {
		t.Errorf("attempts = %d, want the configured 5", got)
	}
}
