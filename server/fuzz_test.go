package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/server"
)

// anyCreds serves credentials for every profile but the failing ones of
// newStub, and records the profiles asked.
type anyCreds struct {
	stub *stubCreds

	mu    sync.Mutex
	asked []string
}

var _ server.Credentials = (*anyCreds)(nil)

func (a *anyCreds) Get(ctx context.Context, name string) (cache.Served, error) {
	a.mu.Lock()
	a.asked = append(a.asked, name)
	a.mu.Unlock()
	if err, ok := a.stub.errs[name]; ok {
		return cache.Served{}, err
	}
	return served(srvCreds("123456789012", "arn:aws:iam::123456789012:role/Fuzz")), nil
}

func (a *anyCreds) Asked() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.asked)
}

// isToken reports whether s is an HTTP token, as a header name must be for
// net/http's server to pass the request on.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// fuzzRequest builds the request a server would hand the handler. target is
// the raw request target: parsed as net/http parses it when it can be,
// else taken as a decoded path, which the handler must survive too. headers
// holds lines "Name: value"; names that are not tokens are left out (the
// server refuses those requests itself) and the rest canonicalised.
func fuzzRequest(ctx context.Context, method, target, host, auth, headers string) *http.Request {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		u = &url.URL{Path: target}
	}
	h := http.Header{}
	if auth != "" {
		h["Authorization"] = []string{auth}
	}
	for _, line := range strings.Split(headers, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if k = strings.TrimSpace(k); !ok || !isToken(k) {
			continue
		}
		k = textproto.CanonicalMIMEHeaderKey(k)
		h[k] = append(h[k], strings.TrimSpace(v))
	}
	r := &http.Request{
		Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: host, RemoteAddr: "127.0.0.1:40000", RequestURI: target,
	}
	return r.WithContext(ctx)
}

// FuzzServeHTTP drives the whole endpoint with any method, request target
// (raw: escapes, NUL, invalid UTF-8, long names), Host and headers. It
// never panics; every refusal is the JSON error body with
// application/json; a 200 needs GET, an allowed Host, no browser headers,
// the token and a name that profile.CheckName passes; the cache is never
// asked for another name; and a well-formed request for a good name is
// served.
func FuzzServeHTTP(f *testing.F) {
	const sdk = "Accept: application/json\nUser-Agent: aws-sdk-go-v2/1.47.7"
	f.Add("GET", "/v1/credentials", srvHost, srvToken, sdk)
	f.Add("GET", "/v1/credentials/dev", "localhost:9911", srvToken, sdk)
	f.Add("GET", "/v1/credentials/a%2Cb", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/dev", srvHost, "", "")
	f.Add("GET", "/v1/credentials/locked", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/plain", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/dev", srvHost, srvToken, "Origin: https://evil.example")
	f.Add("GET", "/v1/credentials/dev", srvHost, srvToken, "sec-fetch-mode: no-cors")
	f.Add("GET", "/healthz", srvHost, "", "")
	f.Add("HEAD", "/v1/credentials/dev", srvHost, srvToken, "")
	f.Add("POST", "/v1/credentials", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/%FF", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/%00", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/a%2Fb", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/a%20b", srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/"+strings.Repeat("x", 5000), srvHost, srvToken, "")
	f.Add("GET", "/v1/credentials/../healthz", "evil.example", "x", "Origin: null")
	f.Add("GET", "/v1/credentials/%2e%2e\x00\xff", srvHost, srvToken, "")
	f.Add("", "", "", "", "")

	hosts := []string{srvHost, "localhost:9911"}
	f.Fuzz(func(t *testing.T, method, target, host, auth, headers string) {
		core, logs := observer.New(zapcore.DebugLevel)
		creds := &anyCreds{stub: newStub()}
		h := server.New(creds, server.Config{
			Token: srvToken, Hosts: hosts, DefaultProfile: "default",
			Log: zap.New(core), Clock: clockwork.NewFakeClock(),
		})
		r := fuzzRequest(t.Context(), method, target, host, auth, headers)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		what := fmt.Sprintf("%q %q Host %q Authorization %q headers %q", method, target, host, auth, headers)
		body := w.Body.Bytes()
		if n := logs.FilterMessage("request handler panicked").Len(); n > 0 {
			t.Fatalf("%s: the handler panicked: %v", what, logs.FilterMessage("request handler panicked").All()[0].ContextMap())
		}
		asked := creds.Asked()
		for _, name := range asked {
			if err := profile.CheckName(name); err != nil {
				t.Fatalf("%s asked the cache for %q, which profile.CheckName refuses: %v", what, name, err)
			}
		}
		if len(asked) > 1 {
			t.Fatalf("%s asked the cache for %q, want one profile at most", what, asked)
		}

		token := ""
		if v := r.Header["Authorization"]; len(v) > 0 {
			token = v[0]
		}
		browser := len(r.Header["Origin"]) > 0 && r.Header["Origin"][0] != ""
		for k := range r.Header {
			browser = browser || strings.HasPrefix(k, "Sec-Fetch-")
		}
		hostOK := slices.Contains(hosts, host)
		errCode := ""

		if w.Code == http.StatusOK {
			if method != http.MethodGet || !hostOK || browser {
				t.Fatalf("%s = 200 %q, want a refusal", what, body)
			}
			if bytes.Equal(body, []byte(`{"status":"ok"}`)) { // /healthz
				if len(asked) != 0 {
					t.Fatalf("%s = 200 %q (health) but asked the cache for %q", what, body, asked)
				}
			} else {
				if token != srvToken {
					t.Fatalf("%s = 200 %q without the token", what, body)
				}
				if len(asked) != 1 {
					t.Fatalf("%s = 200 %q but asked the cache for %q, want one profile", what, body, asked)
				}
				if want := served(srvCreds("123456789012", "arn:aws:iam::123456789012:role/Fuzz")).Body; !bytes.Equal(body, want) {
					t.Fatalf("%s = 200 %q, want the cache's body %q", what, body, want)
				}
			}
			if ct := w.Header()["Content-Type"]; !slices.Equal(ct, []string{"application/json"}) {
				t.Fatalf("%s = 200 with Content-Type %q, want application/json", what, ct)
			}
		} else {
			if ct := w.Header()["Content-Type"]; !slices.Equal(ct, []string{"application/json"}) {
				t.Fatalf("%s = %d with Content-Type %q, want exactly application/json", what, w.Code, ct)
			}
			if w.Code < 400 || w.Code > 599 {
				t.Fatalf("%s = %d, want 200 or an error status", what, w.Code)
			}
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%s = %d %q, want a JSON error body: %v", what, w.Code, body, err)
			}
			code, _ := e["code"].(string)
			message, _ := e["message"].(string)
			if code == "" || message == "" || len(e) != 2 {
				t.Fatalf("%s = %d %q, want exactly a code and a message", what, w.Code, body)
			}
			errCode = code
		}

		// The checks in the order ServeHTTP makes them.
		switch {
		case !hostOK:
			if w.Code != http.StatusForbidden || errCode != "InvalidHost" {
				t.Fatalf("%s = %d %q, want 403 InvalidHost", what, w.Code, body)
			}
		case browser:
			if w.Code != http.StatusForbidden || errCode != "BrowserRequest" {
				t.Fatalf("%s = %d %q, want 403 BrowserRequest", what, w.Code, body)
			}
		}
		if !hostOK || browser || token != srvToken {
			if len(asked) != 0 {
				t.Fatalf("%s asked the cache for %q, want a refusal first", what, asked)
			}
		}

		// A request as an SDK sends it, for a name escaped as `brokerd env`
		// escapes it, is served when the name can be a profile's.
		if method == http.MethodGet && hostOK && !browser && token == srvToken {
			if esc, ok := strings.CutPrefix(target, "/v1/credentials/"); ok {
				name, err := url.PathUnescape(esc)
				_, fails := newStub().errs[name]
				if err == nil && url.PathEscape(name) == esc && profile.CheckName(name) == nil && !fails {
					if w.Code != http.StatusOK || !slices.Equal(asked, []string{name}) {
						t.Fatalf("%s = %d %q asking the cache for %q, want 200 for profile %q", what, w.Code, body, asked, name)
					}
				}
			}
		}

		// No secret in an answer that is not the credentials, nor in the
		// log, unless the input itself carried it.
		input := method + target + host + auth + headers
		secrets := map[string]string{"token": srvToken, "secret access key": srvSecret, "session token": srvSession, "unmasked key id": srvKeyID}
		for what2, secret := range secrets {
			if strings.Contains(input, secret) {
				continue
			}
			if w.Code != http.StatusOK && bytes.Contains(body, []byte(secret)) {
				t.Fatalf("%s = %d %q, which shows the %s", what, w.Code, body, what2)
			}
			for _, e := range logs.All() {
				text := e.Message
				for k, v := range e.ContextMap() {
					text += fmt.Sprintf(" %s=%v", k, v)
				}
				if strings.Contains(text, secret) {
					t.Fatalf("%s logged the %s: %s", what, what2, text)
				}
			}
		}
	})
}
