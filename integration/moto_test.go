//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/brokerd/brokerd/internal/motoserver"
)

// startMoto starts moto_server, serving STS (and IAM), on a free loopback
// port and waits until it answers. Its request log goes to a file in
// dir/name.
func startMoto(dir, name string) (*motoserver.Server, error) {
	logDir := filepath.Join(dir, name)
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	return motoserver.Start(logDir)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// closedAddr returns a loopback address where nothing listens, for an STS
// that cannot be reached.
func closedAddr(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// iamSTS is a moto_server with IAM authentication on: STS refuses keys that
// no IAM user in moto has (InvalidClientTokenId, 403) and calls that the
// user's policies do not allow (AccessDenied, 403), as real STS does. Tests
// create users and keys in it with newUser and newAccessKey.
//
// moto nests these errors as <ErrorResponse><Errors><Error>, which botocore
// tolerates but the Go SDK cannot read (it reports UnknownError); real STS
// sends <ErrorResponse><Error>. So URL is a proxy that rewrites them into
// STS's shape; everything else passes unchanged.
type iamSTS struct {
	URL   string // the proxy: point AWS_ENDPOINT_URL_STS here
	moto  *motoserver.Server
	proxy *stsProxy
	admin keyPair // an IAM user allowed everything, for setting up users
}

func startIAMSTS(dir string) (*iamSTS, error) {
	m, err := startMoto(dir, "moto-iam")
	if err != nil {
		return nil, err
	}
	s := &iamSTS{moto: m}
	if err := s.bootstrap(); err != nil {
		m.Stop()
		return nil, fmt.Errorf("set up IAM authentication in moto_server: %w", err)
	}
	s.proxy = newSTSProxy(m.URL)
	s.URL = s.proxy.URL
	return s, nil
}

// bootstrap creates the admin user while moto still accepts any keys, then
// turns IAM authentication on for every later request.
func (s *iamSTS) bootstrap() error {
	ctx := context.Background()
	anyone := keyPair{ID: "AKIAIOSFODNN7EXAMPLE", Secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	steps := []struct {
		action string
		params url.Values
	}{
		{"CreateUser", url.Values{"UserName": {"brokerd-test-admin"}}},
		{"PutUserPolicy", url.Values{"UserName": {"brokerd-test-admin"}, "PolicyName": {"all"}, "PolicyDocument": {allowPolicy("*")}}},
	}
	for _, st := range steps {
		if err := s.iam(ctx, anyone, st.action, st.params, nil); err != nil {
			return err
		}
	}
	admin, err := s.createAccessKey(ctx, anyone, "brokerd-test-admin")
	if err != nil {
		return err
	}
	resp, err := http.Post(s.moto.URL+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /moto-api/reset-auth: %s", resp.Status)
	}
	s.admin = admin
	// Authentication is on when the admin's keys work and others do not.
	if err := s.iam(ctx, admin, "ListUsers", nil, nil); err != nil {
		return fmt.Errorf("admin keys refused: %w", err)
	}
	if err := s.iam(ctx, anyone, "ListUsers", nil, nil); err == nil {
		return errors.New("moto_server still accepts unknown keys after reset-auth")
	}
	return nil
}

func (s *iamSTS) stop() {
	s.proxy.Close()
	s.moto.Stop()
}

// newUser creates an IAM user; mayAssumeRoles gives it a policy that allows
// sts:AssumeRole and sts:GetSessionToken on any resource.
func (s *iamSTS) newUser(t testing.TB, name string, mayAssumeRoles bool) string {
	t.Helper()
	ctx := context.Background()
	if err := s.iam(ctx, s.admin, "CreateUser", url.Values{"UserName": {name}}, nil); err != nil {
		t.Fatal(err)
	}
	if mayAssumeRoles {
		p := url.Values{"UserName": {name}, "PolicyName": {"sts"}, "PolicyDocument": {allowPolicy("sts:AssumeRole", "sts:GetSessionToken")}}
		if err := s.iam(ctx, s.admin, "PutUserPolicy", p, nil); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// newAccessKey creates an access key for user.
func (s *iamSTS) newAccessKey(t testing.TB, user string) keyPair {
	t.Helper()
	k, err := s.createAccessKey(context.Background(), s.admin, user)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// deleteAccessKey deletes user's access key id, so STS refuses it from now on.
func (s *iamSTS) deleteAccessKey(t testing.TB, user, id string) {
	t.Helper()
	if err := s.iam(context.Background(), s.admin, "DeleteAccessKey", url.Values{"UserName": {user}, "AccessKeyId": {id}}, nil); err != nil {
		t.Fatal(err)
	}
}

func (s *iamSTS) createAccessKey(ctx context.Context, signer keyPair, user string) (keyPair, error) {
	var out struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	if err := s.iam(ctx, signer, "CreateAccessKey", url.Values{"UserName": {user}}, &out); err != nil {
		return keyPair{}, err
	}
	k := keyPair{ID: out.ID, Secret: out.Secret}
	if err := k.check(); err != nil {
		return keyPair{}, fmt.Errorf("moto made a key brokerd does not accept: %w", err)
	}
	return k, nil
}

// iam calls moto's IAM query API signed with creds and decodes the XML
// answer into out (when not nil).
func (s *iamSTS) iam(ctx context.Context, creds keyPair, action string, params url.Values, out any) error {
	form := url.Values{"Action": {action}, "Version": {"2010-05-08"}}
	for k, v := range params {
		form[k] = v
	}
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.moto.URL+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: creds.ID, SecretAccessKey: creds.Secret},
		req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now())
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("IAM %s: %w", action, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("IAM %s: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("IAM %s: %s: %s", action, resp.Status, b)
	}
	if out != nil {
		if err := xml.Unmarshal(b, out); err != nil {
			return fmt.Errorf("IAM %s: decode %q: %w", action, b, err)
		}
	}
	return nil
}

// allowPolicy is an IAM policy document that allows actions on any resource.
func allowPolicy(actions ...string) string {
	b, _ := json.Marshal(map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": "*"}},
	})
	return string(b)
}

// stsProxy is a reverse proxy in front of a moto_server. It records the form
// and signing key of every request it forwards, so tests count STS calls by
// action and see which credentials signed them, and rewrites moto's
// IAM-authentication error bodies into the shape real STS sends (see iamSTS).
type stsProxy struct {
	*httptest.Server
	mu    sync.Mutex
	calls []stsCall
}

// stsCall is a request the proxy forwarded.
type stsCall struct {
	form   url.Values
	signer string // the access key id of the Authorization header's Credential=
}

func newSTSProxy(target string) *stsProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	p := &stsProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = fixMotoErrors
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		signer, _, _ := strings.Cut(cred, "/")
		p.mu.Lock()
		p.calls = append(p.calls, stsCall{form: form, signer: signer})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	return p
}

// callsOf returns the forms of the requests for action, in order.
func (p *stsProxy) callsOf(action string) []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []url.Values
	for _, c := range p.calls {
		if c.form.Get("Action") == action {
			out = append(out, c.form)
		}
	}
	return out
}

// signersOf returns the access key ids that signed the requests for
// action, in order.
func (p *stsProxy) signersOf(action string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		if c.form.Get("Action") == action {
			out = append(out, c.signer)
		}
	}
	return out
}

// count returns how many requests the proxy forwarded.
func (p *stsProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// fixMotoErrors rewrites <ErrorResponse><Errors><Error>…</Error></Errors>
// into <ErrorResponse><Error>…</Error>.
func fixMotoErrors(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if bytes.Contains(b, []byte("<ErrorResponse><Errors><Error>")) {
		b = bytes.Replace(b, []byte("<ErrorResponse><Errors><Error>"), []byte("<ErrorResponse><Error>"), 1)
		b = bytes.Replace(b, []byte("</Error></Errors></ErrorResponse>"), []byte("</Error></ErrorResponse>"), 1)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}
