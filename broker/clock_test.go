package broker_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerd/brokerd/broker"
)

// stsDate is the time the STS stub of TestSTSTime tells.
var stsDate = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// stsClock starts an STS stub that answers every call with status and
// body, and a Date header of stsDate, and points the SDK at it through the
// environment alone. It returns the directory temporary files go to.
func stsClock(t *testing.T, status int, body string) (tmp string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", stsDate.Format(http.TimeFormat))
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	dir, tmp := t.TempDir(), t.TempDir()
	// The shared files name no profile at all: none is read.
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte("[profile dev]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": srv.URL, "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"HOME": dir, "TMPDIR": tmp, "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ENDPOINT_URL": "", "AWS_CA_BUNDLE": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	return tmp
}

const (
	callerIdentity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	missingToken = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message></Error>
<RequestId>req-1</RequestId></ErrorResponse>`
)

// TestSTSTime checks that the time of STS is read whatever profile the
// environment names: doctor runs it in the shell it diagnoses, where
// AWS_PROFILE may name a profile of the config file, or one of no file.
func TestSTSTime(t *testing.T) {
	tests := []struct {
		env    map[string]string
		status int
		body   string
	}{
		{map[string]string{}, 200, callerIdentity},
		{map[string]string{}, 403, missingToken}, // STS's answer to an unsigned call
		{map[string]string{"AWS_PROFILE": "dev"}, 403, missingToken},
		{map[string]string{"AWS_PROFILE": "dev"}, 200, callerIdentity},
		{map[string]string{"AWS_PROFILE": "nosuch"}, 403, missingToken},
		{map[string]string{"AWS_DEFAULT_PROFILE": "dev"}, 403, missingToken},
		{map[string]string{"AWS_PROFILE": "dev", "AWS_REGION": "eu-west-1"}, 403, missingToken},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env, tt.status), func(t *testing.T) {
			tmp := stsClock(t, tt.status, tt.body)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := broker.STSTime(t.Context())
			if err != nil || !got.Equal(stsDate) {
				t.Errorf("STSTime() with %v = %v, %v, want %v", tt.env, got, err, stsDate)
			}
			if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
				t.Errorf("STSTime() with %v left %v (%v) in TMPDIR, want nothing", tt.env, left, err)
			}
		})
	}
}

// TestSTSTime_unreachable checks that an STS that does not answer is named
// by the cause alone, not the SDK's operation and retry wording, and stays
// a RequestSendError for doctor to tell from STS's refusals.
func TestSTSTime_unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv("AWS_ENDPOINT_URL_STS", url)
	t.Setenv("AWS_REGION", "us-east-1")
	_, err = broker.STSTime(t.Context())
	var send *smithyhttp.RequestSendError
	if err == nil || !errors.As(err, &send) || !strings.HasPrefix(err.Error(), "reach STS: Post \""+url) ||
		!strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "operation error") || strings.Contains(err.Error(), "RequestID") {
		t.Errorf("STSTime() with nothing at %s = %v, want \"reach STS: Post …: connection refused\" wrapping a RequestSendError", url, err)
	}
}
