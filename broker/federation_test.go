package broker_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/fault"
)

// federationSTS answers GetFederationToken, or AccessDenied for a signer
// named in deny, and records who signed each call.
type federationSTS struct {
	mu      sync.Mutex
	signers []string
	deny    string
}

func (f *federationSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	signer := ""
	if m := scope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		signer = m[1]
	}
	f.mu.Lock()
	f.signers = append(f.signers, r.PostForm.Get("Action")+" "+signer)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if signer == f.deny {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform: sts:GetFederationToken</Message></Error></ErrorResponse>`)
		return
	}
	fmt.Fprintf(w, `<GetFederationTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetFederationTokenResult>`+
		`<Credentials><AccessKeyId>ASIAFEDERATED0000001</AccessKeyId><SecretAccessKey>fed-secret</SecretAccessKey><SessionToken>fed-token</SessionToken>`+
		`<Expiration>%s</Expiration></Credentials></GetFederationTokenResult></GetFederationTokenResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

func TestBroker_Federation(t *testing.T) {
	stsWorld(t)
	f := &federationSTS{deny: "AKIAONLY000000000002"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	b := broker.New(testKeys, broker.Config{})
	ctx := t.Context()

	p, err := b.Plan("base")
	if err != nil {
		t.Fatal(err)
	}
	keys, fed, err := b.Federation(ctx, p)
	if err != nil {
		t.Fatalf("Federation(base) = %v", err)
	}
	if keys.AccessKeyID != testKeys["base"].AccessKeyID || keys.SessionToken != "" {
		t.Errorf("Federation(base) keys = %s, want base's long-term key", keys.AccessKeyID)
	}
	out, err := fed.GetFederationToken(ctx, &sts.GetFederationTokenInput{Name: aws.String("brokerd")})
	if err != nil || *out.Credentials.AccessKeyId != "ASIAFEDERATED0000001" {
		t.Fatalf("GetFederationToken() = %+v, %v", out, err)
	}
	if got, want := f.signers, []string{"GetFederationToken AKIABASE000000000001"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("STS calls = %q, want %q", got, want)
	}

	// STS's refusal is a fault that names the call.
	p, _ = b.Plan("keychainonly")
	_, fed, err = b.Federation(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fed.GetFederationToken(ctx, &sts.GetFederationTokenInput{Name: aws.String("brokerd")})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Refused || !strings.Contains(fe.Message, "GetFederationToken") {
		t.Errorf("GetFederationToken() refused = %v, want a Refused fault naming the call", err)
	}
	// A source without keys has none to federate with.
	p, _ = b.Plan("missing")
	if _, _, err := b.Federation(ctx, p); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Federation(missing) = %v, want NotFound", err)
	}
}
