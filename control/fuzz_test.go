package control_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
)

// FuzzHandler sends any method, path and body to the control API. It
// never panics; every answer is JSON with application/json, an error one
// with a code and a message; a request the service answered had a body
// that reads strictly as its route's request, and reached the service as
// read; one it did not answer never reached it.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/v1/status", []byte(nil), false)
	f.Add("GET", "/v1/names", []byte(nil), false)
	f.Add("POST", "/v1/refresh", []byte(`{"profile":"a,b"}`), false)
	f.Add("POST", "/v1/refresh", []byte(`{"profile":"dev","force":true}`), false)
	f.Add("POST", "/v1/refresh/dev", []byte(nil), false)
	f.Add("POST", "/v1/reload", []byte(`garbage`), true)
	f.Add("POST", "/v1/login/needs", []byte(`{"profile":"dev"}`), true)
	f.Add("POST", "/v1/login", []byte(`{"profile":"dev","code":"123456","duration_seconds":3600}`), false)
	f.Add("POST", "/v1/logout", []byte(`{"profile":""}`), false)
	f.Add("POST", "/v1/keys", []byte(`{"profile":"dev","removed":true}`), false)
	f.Add("POST", "/v1/keys", []byte(`{"profile":"dev","removed":"yes"}`), false)
	f.Add("PUT", "/v1/keys", []byte(`{}`), false)
	f.Add("POST", "/v1/login", []byte(`{"Profile":"dev","CODE":"1"} {"x":1}`), false)
	f.Add("DELETE", "/v1/%2e%2e/status", []byte("\x00\xff"), false)

	// decoded returns the request route path reads, strictly, as its
	// service call would be recorded; ok is false for routes without a
	// body.
	decoded := func(path string, body []byte) (call string, ok bool, err error) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		switch path {
		case "/v1/refresh", "/v1/login/needs", "/v1/logout":
			var v struct {
				Profile string `json:"profile"`
			}
			err = dec.Decode(&v)
			name := map[string]string{"/v1/refresh": "Refresh", "/v1/login/needs": "LoginNeeds", "/v1/logout": "Logout"}[path]
			return fmt.Sprintf("%s(%q)", name, v.Profile), true, err
		case "/v1/login":
			var v control.Login
			err = dec.Decode(&v)
			return fmt.Sprintf("Login(%+v)", v), true, err
		case "/v1/keys":
			var v control.KeysChange
			err = dec.Decode(&v)
			return fmt.Sprintf("KeysChanged(%+v)", v), true, err
		}
		return "", false, nil
	}

	f.Fuzz(func(t *testing.T, method, path string, body []byte, fail bool) {
		svc := &fakeService{}
		if fail {
			svc.err = fault.New(fault.LoginRequired, "log in first")
		}
		core, logs := observer.New(zapcore.InfoLevel)
		u, err := url.ParseRequestURI(path)
		if err != nil {
			u = &url.URL{Path: path}
		}
		r := (&http.Request{
			Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Host: "brokerd",
			Body: http.NoBody, RequestURI: path, RemoteAddr: "@",
		}).WithContext(t.Context())
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		w := httptest.NewRecorder()
		control.Handler(svc, zap.New(core)).ServeHTTP(w, r)

		what := fmt.Sprintf("%q %q body %q", method, path, body)
		if logs.FilterMessage("request handler panicked").Len() > 0 {
			t.Fatalf("%s: the handler panicked: %v", what, logs.FilterMessage("request handler panicked").All()[0].ContextMap())
		}
		if ct := w.Header()["Content-Type"]; !slices.Equal(ct, []string{"application/json"}) {
			t.Fatalf("%s = %d with Content-Type %q, want exactly application/json", what, w.Code, ct)
		}
		calls := svc.Calls()
		if len(calls) > 1 {
			t.Fatalf("%s called the service %q, want once at most", what, calls)
		}
		if w.Code != http.StatusOK {
			var e map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("%s = %d %q, want a JSON error body: %v", what, w.Code, w.Body, err)
			}
			code, _ := e["code"].(string)
			message, _ := e["message"].(string)
			if code == "" || message == "" || len(e) != 2 || w.Code < 400 || w.Code > 599 {
				t.Fatalf("%s = %d %q, want an error status with exactly a code and a message", what, w.Code, w.Body)
			}
			if code == "BadRequest" && len(calls) != 0 {
				t.Fatalf("%s = 400 BadRequest but called the service %q", what, calls)
			}
			if (len(calls) == 1) != (code == "LoginRequired") || len(calls) == 1 && !fail {
				t.Fatalf("%s = %d %q after calls %q, want the service's error exactly when it was called and failed", what, w.Code, w.Body, calls)
			}
			return
		}
		if fail || len(calls) != 1 {
			t.Fatalf("%s = 200 %q after calls %q, want 200 only from one call that succeeded", what, w.Body, calls)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s = 200 %q, want JSON", what, w.Body)
		}
		if method == http.MethodPost && u.RawPath == "" {
			call, ok, err := decoded(u.Path, body)
			if ok && err != nil {
				t.Fatalf("%s = 200 %q, but the body does not read strictly as the request: %v", what, w.Body, err)
			}
			if ok && call != calls[0] {
				t.Fatalf("%s called %q, want %q", what, calls[0], call)
			}
		}
	})
}
