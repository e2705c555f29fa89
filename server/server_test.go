package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/wire"
)

const (
	srvToken  = "5f0c0a1e9d3b4c2a8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
	srvHost   = "127.0.0.1:9911"
	srvSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	srvKeyID  = "ASIAIOSFODNN7EXAMPLE"
	// srvSession stands for an STS session token; the tests look for it
	// where it must not be.
	srvSession = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENdGhpcyBpcyBub3QgYSByZWFsIHRva2Vu"
)

// stubCreds answers Get from fixed tables and records the profiles asked.
type stubCreds struct {
	creds map[string]creds.Credentials
	errs  map[string]error

	mu    sync.Mutex
	asked []string
}

var _ server.Credentials = (*stubCreds)(nil)

func (s *stubCreds) Get(_ context.Context, profile string) (cache.Served, error) {
	s.mu.Lock()
	s.asked = append(s.asked, profile)
	s.mu.Unlock()
	if err, ok := s.errs[profile]; ok {
		return cache.Served{}, err
	}
	if c, ok := s.creds[profile]; ok {
		return served(c), nil
	}
	return cache.Served{}, fault.New(fault.NotFound, "no profile %q", profile)
}

// served is c with its body, encoded as the cache encodes it.
func served(c creds.Credentials) cache.Served {
	body, err := json.Marshal(wire.Credentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		Token:           c.SessionToken,
		Expiration:      wire.Expiry(c.Expires),
		AccountID:       c.AccountID,
		RoleArn:         c.RoleARN,
	})
	if err != nil {
		panic(err)
	}
	return cache.Served{Credentials: c, Body: body}
}

func (s *stubCreds) Asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

// A time zone other than UTC and a fraction of a second, which the
// response must not show.
var srvExpires = time.Date(2030, 1, 2, 5, 4, 5, 987654321, time.FixedZone("CEST", 2*3600))

func srvCreds(accountID, roleARN string) creds.Credentials {
	return creds.Credentials{
		Credentials: aws.Credentials{
			AccessKeyID:     srvKeyID,
			SecretAccessKey: srvSecret,
			SessionToken:    srvSession,
			CanExpire:       true,
			Expires:         srvExpires,
			AccountID:       accountID,
		},
		RoleARN: roleARN,
	}
}

func newStub() *stubCreds {
	return &stubCreds{
		creds: map[string]creds.Credentials{
			"default": srvCreds("", ""),
			"dev":     srvCreds("123456789012", "arn:aws:iam::123456789012:role/Dev"),
			"a,b":     srvCreds("", ""),
		},
		errs: map[string]error{
			"locked":  fault.New(fault.KeychainLocked, "keychain is locked"),
			"wrapped": fmt.Errorf("get credentials: %w", &fault.Error{Kind: fault.Refused, Code: "AccessDenied", Message: "STS AssumeRole failed: AccessDenied"}),
			"plain":   errors.New("something broke"),
		},
	}
}

// newHandler is the endpoint over creds; its log samplers' clock never
// moves unless a test moves it.
func newHandler(creds server.Credentials, log *zap.Logger) http.Handler {
	return server.New(creds, server.Config{
		Token:          srvToken,
		Hosts:          []string{srvHost, "localhost:9911"},
		DefaultProfile: "default",
		Log:            log,
		Clock:          clockwork.NewFakeClock(),
	})
}

// request is a credentials request as an SDK sends it, changed by opts.
func request(method, path string, opts ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(method, "http://"+srvHost+path, nil)
	r.Header.Set("Authorization", srvToken)
	r.Header.Set("Accept", "application/json")
	for _, o := range opts {
		o(r)
	}
	return r
}

func withHeader(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

func withoutHeader(k string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Del(k) }
}

// withBody gives the request a body of n bytes, or a chunked one for -1.
func withBody(n int64) func(*http.Request) {
	return func(r *http.Request) {
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader("xxxxx")), n
	}
}

func withHost(h string) func(*http.Request) {
	return func(r *http.Request) { r.Host = h }
}

var expirationFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestServer_Credentials(t *testing.T) {
	tests := []struct {
		name, path string
		host       string
		wantAsked  string
		want       map[string]string
	}{
		{
			name: "default profile", path: "/v1/credentials", host: srvHost, wantAsked: "default",
			want: map[string]string{
				"AccessKeyId": srvKeyID, "SecretAccessKey": srvSecret, "Token": srvSession,
				"Expiration": "2030-01-02T03:04:05Z",
			},
		},
		{
			name: "named profile with account and role", path: "/v1/credentials/dev", host: "localhost:9911", wantAsked: "dev",
			want: map[string]string{
				"AccessKeyId": srvKeyID, "SecretAccessKey": srvSecret, "Token": srvSession,
				"Expiration": "2030-01-02T03:04:05Z", "AccountId": "123456789012",
				// The ECS endpoint sends RoleArn too; every SDK ignores it.
				"RoleArn": "arn:aws:iam::123456789012:role/Dev",
			},
		},
		{
			// `brokerd env` escapes names as url.PathEscape does.
			name: "escaped profile name", path: "/v1/credentials/a%2Cb", host: srvHost, wantAsked: "a,b",
			want: map[string]string{
				"AccessKeyId": srvKeyID, "SecretAccessKey": srvSecret, "Token": srvSession,
				"Expiration": "2030-01-02T03:04:05Z",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub()
			w := httptest.NewRecorder()
			newHandler(stub, nil).ServeHTTP(w, request(http.MethodGet, tt.path, withHost(tt.host)))

			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", tt.path, w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("GET %s Content-Type = %q, want %q", tt.path, ct, "application/json")
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("GET %s body %s: %v", tt.path, w.Body, err)
			}
			for k, v := range got {
				if s, ok := v.(string); !ok || tt.want[k] != s {
					t.Errorf("GET %s body[%q] = %v, want %q", tt.path, k, v, tt.want[k])
				}
			}
			for k := range tt.want {
				if _, ok := got[k]; !ok {
					t.Errorf("GET %s body has no %q: %s", tt.path, k, w.Body)
				}
			}
			if exp, _ := got["Expiration"].(string); !expirationFormat.MatchString(exp) {
				t.Errorf("GET %s Expiration = %q, want the form 2006-01-02T15:04:05Z", tt.path, exp)
			}
			if asked := stub.Asked(); !slices.Equal(asked, []string{tt.wantAsked}) {
				t.Errorf("GET %s asked the cache for %q, want %q", tt.path, asked, tt.wantAsked)
			}
		})
	}
}

func TestServer_Errors(t *testing.T) {
	long := strings.Repeat("a", 5000)
	tests := []struct {
		name       string
		req        *http.Request
		defProfile string
		wantStatus int
		wantCode   string
		// wantAsked is the profile the cache is asked for, "" for none: a
		// request refused at the edge never reaches it.
		wantAsked string
	}{
		{"missing authorization", request("GET", "/v1/credentials/dev", withoutHeader("Authorization")), "default", 401, "MissingToken", ""},
		{"wrong token", request("GET", "/v1/credentials/dev", withHeader("Authorization", srvToken[:63]+"0")), "default", 403, "InvalidToken", ""},
		{"bearer token", request("GET", "/v1/credentials/dev", withHeader("Authorization", "Bearer "+srvToken)), "default", 403, "InvalidToken", ""},
		{"host not served", request("GET", "/v1/credentials/dev", withHost("evil.example:9911")), "default", 403, "InvalidHost", ""},
		{"host with other port", request("GET", "/v1/credentials/dev", withHost("127.0.0.1:80")), "default", 403, "InvalidHost", ""},
		{"host on healthz", request("GET", "/healthz", withHost("evil.example")), "default", 403, "InvalidHost", ""},
		{"origin", request("GET", "/v1/credentials/dev", withHeader("Origin", "https://evil.example")), "default", 403, "BrowserRequest", ""},
		{"sec-fetch-site", request("GET", "/v1/credentials/dev", withHeader("Sec-Fetch-Site", "cross-site")), "default", 403, "BrowserRequest", ""},
		{"sec-fetch-mode", request("GET", "/v1/credentials/dev", withHeader("Sec-Fetch-Mode", "no-cors")), "default", 403, "BrowserRequest", ""},
		{"browser without token", request("GET", "/v1/credentials/dev", withoutHeader("Authorization"), withHeader("Origin", "null")), "default", 403, "BrowserRequest", ""},
		{"unknown path", request("GET", "/v2/credentials"), "default", 404, "NotFound", ""},
		{"unknown nested path", request("GET", "/v1/credentials/dev/extra"), "default", 404, "NotFound", ""},
		{"no default profile", request("GET", "/v1/credentials"), "", 404, "NoDefaultProfile", ""},
		{"post", request("POST", "/v1/credentials/dev"), "default", 405, "MethodNotAllowed", ""},
		{"put default", request("PUT", "/v1/credentials"), "default", 405, "MethodNotAllowed", ""},
		// A body is never read, whatever the request: net/http would wait
		// for it, with no deadline, before the connection's next request.
		{"get with a body", request("GET", "/v1/credentials/dev", withBody(5)), "default", 400, "RequestBody", ""},
		{"get with a chunked body", request("GET", "/v1/credentials/dev", withBody(-1)), "default", 400, "RequestBody", ""},
		{"body on healthz", request("GET", "/healthz", withBody(5)), "default", 400, "RequestBody", ""},
		{"body with a foreign host", request("POST", "/v1/credentials/dev", withBody(5), withHost("evil.example")), "default", 400, "RequestBody", ""},
		// Names no profile can have are refused before the cache is asked.
		{"name not UTF-8", request("GET", "/v1/credentials/%FF"), "default", 400, "InvalidProfileName", ""},
		{"name with NUL", request("GET", "/v1/credentials/%00"), "default", 400, "InvalidProfileName", ""},
		{"name too long", request("GET", "/v1/credentials/"+long), "default", 400, "InvalidProfileName", ""},
		{"name with escaped slash", request("GET", "/v1/credentials/a%2Fb"), "default", 400, "InvalidProfileName", ""},
		{"name with space", request("GET", "/v1/credentials/a%20b"), "default", 400, "InvalidProfileName", ""},
		{"name with tab", request("GET", "/v1/credentials/a%09b"), "default", 400, "InvalidProfileName", ""},
		{"name with brackets", request("GET", "/v1/credentials/%5Bdev%5D"), "default", 400, "InvalidProfileName", ""},
		{"default profile not a name", request("GET", "/v1/credentials"), "a b", 400, "InvalidProfileName", ""},
		{"coded error", request("GET", "/v1/credentials/locked"), "default", 503, "KeychainLocked", "locked"},
		{"wrapped coded error", request("GET", "/v1/credentials/wrapped"), "default", 403, "AccessDenied", "wrapped"},
		{"unknown profile", request("GET", "/v1/credentials/nope"), "default", 404, "ProfileNotFound", "nope"},
		{"plain error", request("GET", "/v1/credentials/plain"), "default", 500, "InternalError", "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newStub()
			h := server.New(stub, server.Config{Token: srvToken, Hosts: []string{srvHost}, DefaultProfile: tt.defProfile, Clock: clockwork.NewFakeClock()})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req)

			what := fmt.Sprintf("%s %.80s (Host %s)", tt.req.Method, tt.req.URL.RequestURI(), tt.req.Host)
			if w.Code != tt.wantStatus {
				t.Errorf("%s = %d, want %d", what, w.Code, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s Content-Type = %q, want %q", what, ct, "application/json")
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s body = %s, want JSON {code, message}: %v", what, w.Body, err)
			}
			if body["code"] != tt.wantCode {
				t.Errorf("%s code = %q, want %q", what, body["code"], tt.wantCode)
			}
			if body["message"] == "" || len(body) != 2 {
				t.Errorf("%s body = %s, want exactly code and a message", what, w.Body)
			}
			for _, secret := range []string{srvToken, srvSecret, srvSession} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("%s body = %s, which holds a secret", what, w.Body)
				}
			}
			if tt.req.ContentLength != 0 && w.Header().Get("Connection") != "close" {
				t.Errorf("%s Connection = %q, want close", what, w.Header().Get("Connection"))
			}
			var want []string
			if tt.wantAsked != "" {
				want = []string{tt.wantAsked}
			}
			if asked := stub.Asked(); !slices.Equal(asked, want) {
				t.Errorf("%s asked the cache for %q, want %q", what, asked, want)
			}
		})
	}
}

// TestServer_ErrorKeepsMessage checks that the message of a failure is
// the error's own, context added by wrapping included, so that what a
// person reads in botocore's output says what failed.
func TestServer_ErrorKeepsMessage(t *testing.T) {
	stub := newStub()
	w := httptest.NewRecorder()
	newHandler(stub, nil).ServeHTTP(w, request("GET", "/v1/credentials/wrapped"))
	var body struct{ Code, Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if want := stub.errs["wrapped"].Error(); body.Message != want {
		t.Errorf("GET /v1/credentials/wrapped message = %q, want %q", body.Message, want)
	}
	if want := "STS AssumeRole failed: AccessDenied"; !strings.Contains(body.Message, want) {
		t.Errorf("GET /v1/credentials/wrapped message = %q, want %q in it", body.Message, want)
	}
}

func TestServer_Healthz(t *testing.T) {
	stub := newStub()
	w := httptest.NewRecorder()
	newHandler(stub, nil).ServeHTTP(w, request("GET", "/healthz", withoutHeader("Authorization")))

	if w.Code != http.StatusOK {
		t.Fatalf("GET /healthz without token = %d %s, want 200", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /healthz Content-Type = %q, want %q", ct, "application/json")
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Errorf("GET /healthz body = %s, want JSON", w.Body)
	}
	for _, secret := range []string{srvToken, srvSecret, srvSession, srvKeyID} {
		if strings.Contains(w.Body.String(), secret) {
			t.Errorf("GET /healthz body = %s, which holds %q", w.Body, secret)
		}
	}
	if asked := stub.Asked(); len(asked) != 0 {
		t.Errorf("GET /healthz asked the cache for %q, want nothing", asked)
	}
}

// TestServer_SDK reads the endpoint over HTTP with the Go SDK's own
// container credentials client.
func TestServer_SDK(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = server.New(newStub(), server.Config{
		Token: srvToken, Hosts: []string{srv.Listener.Addr().String()}, DefaultProfile: "default",
	})
	srv.Start()
	defer srv.Close()

	retrieve := func(path, token string) (aws.Credentials, error) {
		return endpointcreds.New(srv.URL+path, func(o *endpointcreds.Options) {
			o.AuthorizationToken = token
			o.Retryer = aws.NopRetryer{}
		}).Retrieve(t.Context())
	}

	got, err := retrieve("/v1/credentials/dev", srvToken)
	if err != nil {
		t.Fatalf("Retrieve(/v1/credentials/dev) = %v", err)
	}
	want := aws.Credentials{
		AccessKeyID: srvKeyID, SecretAccessKey: srvSecret, SessionToken: srvSession,
		CanExpire: true, Expires: srvExpires.Truncate(time.Second).UTC(), AccountID: "123456789012",
		Source: endpointcreds.ProviderName,
	}
	if !got.Expires.Equal(want.Expires) {
		t.Errorf("Retrieve(/v1/credentials/dev).Expires = %v, want %v", got.Expires, want.Expires)
	}
	got.Expires = want.Expires
	if got != want {
		t.Errorf("Retrieve(/v1/credentials/dev) = %+v, want %+v", got, want)
	}

	// The SDK reads the JSON error body and shows its code and message.
	_, err = retrieve("/v1/credentials/dev", "stale")
	if err == nil || !strings.Contains(err.Error(), "InvalidToken") || !strings.Contains(err.Error(), "brokerd env") {
		t.Errorf("Retrieve with a stale token = %v, want the InvalidToken code and its message", err)
	}
	_, err = retrieve("/v1/credentials/locked", srvToken)
	if err == nil || !strings.Contains(err.Error(), "KeychainLocked") {
		t.Errorf("Retrieve of a locked keychain = %v, want KeychainLocked", err)
	}
}

// TestServer_LogsNoSecrets logs at debug level through every answer the
// endpoint gives and looks for secrets in each entry's message and fields.
func TestServer_LogsNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)

	reqs := []*http.Request{
		request("GET", "/v1/credentials"),
		request("GET", "/v1/credentials/dev"),
		request("GET", "/healthz"),
		request("GET", "/v1/credentials/dev", withoutHeader("Authorization")),
		request("GET", "/v1/credentials/dev", withHeader("Authorization", "wrong")),
		request("GET", "/v1/credentials/dev", withHeader("Authorization", srvToken+" ")),
		request("GET", "/v1/credentials/dev", withHost("evil.example")),
		request("GET", "/v1/credentials/dev", withHeader("Origin", "https://evil.example")),
		request("GET", "/v1/credentials/dev", withHeader("Sec-Fetch-Site", "cross-site")),
		request("GET", "/v1/credentials/dev", withHeader("Sec-Fetch-Mode", "cors")),
		request("GET", "/nope"),
		request("POST", "/v1/credentials/dev"),
		request("GET", "/v1/credentials/locked"),
		request("GET", "/v1/credentials/wrapped"),
		request("GET", "/v1/credentials/plain"),
		request("GET", "/v1/credentials/nope"),
	}
	refused := 0
	for _, r := range reqs {
		// A handler each, so that the log sampler lets every line through.
		w := httptest.NewRecorder()
		newHandler(newStub(), log).ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			refused++
		}
	}

	entries := logs.All()
	if n := logs.FilterMessage("request refused").Len(); n != refused {
		t.Errorf("%d requests refused, logged %d times, want once each", refused, n)
	}
	if logs.FilterMessage("issued credentials").Len() == 0 {
		t.Errorf("no line logged for issued credentials")
	}
	secrets := map[string]string{"token": srvToken, "secret access key": srvSecret, "session token": srvSession, "unmasked key id": srvKeyID}
	for _, e := range entries {
		text := e.Message + " " + e.LoggerName
		for k, v := range e.ContextMap() {
			text += fmt.Sprintf(" %s=%v", k, v)
		}
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("log entry %q holds the %s: %s", e.Message, what, text)
			}
		}
	}
}

// TestServer_SamplesLog checks that a burst of requests logs some lines,
// not one each, whether they are served or refused. The samplers' clock
// does not move, so the burst falls in one window.
func TestServer_SamplesLog(t *testing.T) {
	tests := []struct {
		name, msg string
		first     int // lines a second before thinning
		req       func() *http.Request
	}{
		{"issued", "issued credentials", 10, func() *http.Request { return request("GET", "/v1/credentials/dev") }},
		{"refused", "request refused", 50, func() *http.Request {
			return request("GET", "/v1/credentials/dev", withoutHeader("Authorization"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			h := newHandler(newStub(), zap.New(core))
			const burst = 5000
			for range burst {
				h.ServeHTTP(httptest.NewRecorder(), tt.req())
			}
			// first in the window and every 1000th beyond (TestSampler
			// checks the counts).
			if n, want := logs.FilterMessage(tt.msg).Len(), tt.first+(burst-tt.first)/1000; n != want {
				t.Errorf("%d requests logged %d %q lines, want %d", burst, n, tt.msg, want)
			}
		})
	}
}

// panicky panics on every Get.
type panicky struct{}

var _ server.Credentials = panicky{}

func (panicky) Get(context.Context, string) (cache.Served, error) { panic("a bug") }

// cancelled answers every Get as a cache does when the request's context ends.
type cancelled struct{}

var _ server.Credentials = cancelled{}

func (cancelled) Get(context.Context, string) (cache.Served, error) {
	return cache.Served{}, fmt.Errorf("wait for profile: %w", context.Canceled)
}

func TestServer_FailingCredentials(t *testing.T) {
	tests := []struct {
		name       string
		creds      server.Credentials
		wantStatus int
		wantCode   string
	}{
		{"panic", panicky{}, http.StatusInternalServerError, "InternalError"},
		{"cancelled", cancelled{}, http.StatusServiceUnavailable, "Cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			w := httptest.NewRecorder()
			newHandler(tt.creds, zap.New(core)).ServeHTTP(w, request("GET", "/v1/credentials/dev"))
			var body struct{ Code, Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tt.wantStatus || body.Code != tt.wantCode || body.Message == "" {
				t.Errorf("GET = %d %+v, want %d %s with a message", w.Code, body, tt.wantStatus, tt.wantCode)
			}
			if tt.name == "panic" && logs.FilterMessage("request handler panicked").Len() != 1 {
				t.Errorf("panic not logged: %v", logs.All())
			}
		})
	}
}
