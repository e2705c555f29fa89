package broker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/internal/dropproxy"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/wakepool"
)

// TestSTSClients_SlowPooledAnswer checks that the STS clients send through
// a wakepool.Pool and retry the connection it gives up: a call whose
// reused connection answers nothing within the pool's wait is sent again
// on a new one, unless it spends a one-time value (an MFA code), which is
// sent once. TestSTSDeadPooledConnection (integration) runs it against a
// daemon with moto behind a proxy whose connections die unseen.
func TestSTSClients_SlowPooledAnswer(t *testing.T) {
	for _, once := range []bool{false, true} {
		t.Run(fmt.Sprintf("once only %v", once), func(t *testing.T) {
			var calls, slow atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				calls.Add(1)
				if slow.Load() == 1 {
					slow.Store(0)
					time.Sleep(300 * time.Millisecond) // slower than the wait below
				}
				w.Header().Set("Content-Type", "text/xml")
				io.WriteString(w, callerIdentity)
			}))
			defer srv.Close()
			t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
			t.Setenv("AWS_REGION", "us-east-1")
			s := &stsClients{}
			t.Cleanup(s.close)
			c, err := s.get(t.Context(), profile.Profile{}, profile.Profile{})
			if err != nil {
				t.Fatal(err)
			}
			s.pool.Wait = 50 * time.Millisecond
			dropproxy.UntilPooled(t, func(ctx context.Context) error {
				_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				return err
			})
			before := calls.Load()
			slow.Store(1)
			ctx := t.Context()
			if once {
				ctx = wakepool.OnceOnly(ctx)
			}
			if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				t.Fatalf("GetCallerIdentity with a slow answer = %v", err)
			}
			want := int32(2) // given up, and sent again
			if once {
				want = 1
			}
			if got := calls.Load() - before; got != want {
				t.Errorf("calls = %d, want %d", got, want)
			}
		})
	}
}

const callerIdentity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
	`<Arn>arn:aws:iam::123456789012:user/dev</Arn><UserId>AIDA</UserId><Account>123456789012</Account>` +
	`</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`

// TestSTSClients_Endpoint checks where the STS client of a profile sends:
// its own endpoint, else its source profile's, and neither when the
// profile asked for ignores configured endpoints (the SDKs use none of the
// file's for it; profile leaves a profile's own blank then).
func TestSTSClients_Endpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_STS", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	t.Setenv("AWS_REGION", "us-east-1")
	const own, src = "http://127.0.0.1:1", "http://127.0.0.1:2"
	tests := []struct {
		name      string
		p, source profile.Profile
		want      string
	}{
		{"its own", profile.Profile{EndpointURL: own}, profile.Profile{EndpointURL: src}, own},
		{"its source's", profile.Profile{}, profile.Profile{EndpointURL: src}, src},
		{"ignored", profile.Profile{IgnoreEndpoints: true}, profile.Profile{EndpointURL: src}, ""},
		{"none", profile.Profile{}, profile.Profile{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &stsClients{}
			t.Cleanup(s.close)
			c, err := s.get(t.Context(), tt.p, tt.source)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if e := c.Options().BaseEndpoint; e != nil {
				got = *e
			}
			if got != tt.want {
				t.Errorf("BaseEndpoint = %q, want %q", got, tt.want)
			}
		})
	}
}
