package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
)

// fakeService records the calls made to it as Go syntax and answers with
// fixed values, or err when set; Status panics when panics is set.
type fakeService struct {
	err    error
	panics bool

	mu    sync.Mutex
	calls []string
}

var _ control.Service = (*fakeService)(nil)

var (
	fakeStarted = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fakeStatus  = control.Status{Endpoint: "http://127.0.0.1:9911", PID: 42, Started: fakeStarted, DefaultProfile: "dev",
		Profiles: []control.Profile{{Name: "dev", Kind: "role", RoleARN: "arn:aws:iam::1:role/Dev", SourceProfile: "base", LastError: "none"}},
		Sessions: []control.Session{{Profile: "base", MFASerial: "arn:aws:iam::1:mfa/me", Expires: fakeStarted.Add(time.Hour)}}}
	fakeNames  = control.Names{Profiles: []string{"base", "ci", "dev"}, SSOSessions: []string{"my-sso"}}
	fakeNeeds  = control.LoginNeeds{Profile: "base", Kind: "mfa", MFASerial: "arn:aws:iam::1:mfa/me", MFAProcess: "op read x"}
	fakeResult = control.LoginResult{Session: control.Session{Profile: "base", MFASerial: "arn:aws:iam::1:mfa/me", Expires: fakeStarted.Add(12 * time.Hour)},
		Warning: "the keychain is locked"}
)

func (f *fakeService) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeService) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeService) Status(context.Context) (control.Status, error) {
	if f.panics {
		panic("a bug")
	}
	return fakeStatus, f.record("Status()")
}

func (f *fakeService) Names(context.Context) (control.Names, error) {
	return fakeNames, f.record("Names()")
}

func (f *fakeService) Refresh(_ context.Context, profile string) error {
	return f.record("Refresh(%q)", profile)
}

func (f *fakeService) Reload(context.Context) error { return f.record("Reload()") }

func (f *fakeService) LoginNeeds(_ context.Context, profile string) (control.LoginNeeds, error) {
	return fakeNeeds, f.record("LoginNeeds(%q)", profile)
}

func (f *fakeService) Login(_ context.Context, l control.Login) (control.LoginResult, error) {
	return fakeResult, f.record("Login(%+v)", l)
}

func (f *fakeService) Logout(_ context.Context, profile string) (string, error) {
	return "base", f.record("Logout(%q)", profile)
}

func (f *fakeService) KeysChanged(_ context.Context, c control.KeysChange) error {
	return f.record("KeysChanged(%+v)", c)
}

func (f *fakeService) Resolve(_ context.Context, name string) (control.Resolved, error) {
	return control.Resolved{Profile: "dev", Region: "eu-west-1"}, f.record("Resolve(%q)", name)
}

func TestHandler(t *testing.T) {
	big := `{"profile":"` + strings.Repeat("x", 64<<10) + `"}`
	tests := []struct {
		name, method, path, body string
		svc                      *fakeService
		wantStatus               int
		wantCode                 string // of an error
		wantBody                 any    // of a success, decoded into a new value of its type
		wantCalls                []string
	}{
		{name: "status", method: "GET", path: "/v1/status",
			wantStatus: 200, wantBody: fakeStatus, wantCalls: []string{"Status()"}},
		{name: "names", method: "GET", path: "/v1/names",
			wantStatus: 200, wantBody: fakeNames, wantCalls: []string{"Names()"}},
		{name: "names by POST", method: "POST", path: "/v1/names",
			wantStatus: 405, wantCode: "MethodNotAllowed"},
		{name: "resolve", method: "POST", path: "/v1/resolve", body: `{"profile":""}`,
			wantStatus: 200, wantBody: control.Resolved{Profile: "dev", Region: "eu-west-1"}, wantCalls: []string{`Resolve("")`}},
		{name: "refresh", method: "POST", path: "/v1/refresh", body: `{"profile":"a,b"}`,
			wantStatus: 200, wantBody: struct{}{}, wantCalls: []string{`Refresh("a,b")`}},
		// Names travel in the body now, unescaped.
		{name: "refresh name with percent and slash", method: "POST", path: "/v1/refresh", body: `{"profile":"50%/a%2Cb"}`,
			wantStatus: 200, wantBody: struct{}{}, wantCalls: []string{`Refresh("50%/a%2Cb")`}},
		{name: "refresh default", method: "POST", path: "/v1/refresh", body: `{}`,
			wantStatus: 200, wantBody: struct{}{}, wantCalls: []string{`Refresh("")`}},
		{name: "refresh by path is gone", method: "POST", path: "/v1/refresh/a%2Cb",
			wantStatus: 404, wantCode: "NotFound"},
		{name: "refresh unknown field", method: "POST", path: "/v1/refresh", body: `{"profile":"dev","force":true}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "refresh without body", method: "POST", path: "/v1/refresh",
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "refresh malformed body", method: "POST", path: "/v1/refresh", body: `{"profile":`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "refresh wrong type", method: "POST", path: "/v1/refresh", body: `{"profile":7}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "refresh body over 64 KiB", method: "POST", path: "/v1/refresh", body: big,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "refresh by GET", method: "GET", path: "/v1/refresh",
			wantStatus: 405, wantCode: "MethodNotAllowed"},
		{name: "reload", method: "POST", path: "/v1/reload",
			wantStatus: 200, wantBody: struct{}{}, wantCalls: []string{"Reload()"}},
		{name: "login needs", method: "POST", path: "/v1/login/needs", body: `{"profile":"dev"}`,
			wantStatus: 200, wantBody: fakeNeeds, wantCalls: []string{`LoginNeeds("dev")`}},
		{name: "login needs unknown field", method: "POST", path: "/v1/login/needs", body: `{"profile":"dev","kind":"mfa"}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "login needs by GET", method: "GET", path: "/v1/login/needs",
			wantStatus: 405, wantCode: "MethodNotAllowed"},
		{name: "login", method: "POST", path: "/v1/login", body: `{"profile":"dev","code":"123456","duration_seconds":3600}`,
			wantStatus: 200, wantBody: fakeResult, wantCalls: []string{"Login({Profile:dev Code:123456 DurationSeconds:3600})"}},
		{name: "login unknown field", method: "POST", path: "/v1/login", body: `{"profile":"dev","code":"123456","token":"x"}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "logout", method: "POST", path: "/v1/logout", body: `{"profile":"dev"}`,
			wantStatus: 200, wantBody: map[string]string{"profile": "base"}, wantCalls: []string{`Logout("dev")`}},
		{name: "logout unknown field", method: "POST", path: "/v1/logout", body: `{"profile":"dev","all":true}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "keys added", method: "POST", path: "/v1/keys", body: `{"profile":"dev"}`,
			wantStatus: 200, wantBody: struct{}{}, wantCalls: []string{"KeysChanged({Profile:dev Removed:false})"}},
		{name: "keys removed", method: "POST", path: "/v1/keys", body: `{"profile":"dev","removed":true}`,
			wantStatus: 200, wantBody: struct{}{}, wantCalls: []string{"KeysChanged({Profile:dev Removed:true})"}},
		{name: "keys wrong type", method: "POST", path: "/v1/keys", body: `{"profile":"dev","removed":"yes"}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "keys unknown field", method: "POST", path: "/v1/keys", body: `{"profile":"dev","secret":"x"}`,
			wantStatus: 400, wantCode: "BadRequest"},
		{name: "service error", method: "POST", path: "/v1/login/needs", body: `{"profile":"dev"}`,
			svc:        &fakeService{err: fault.New(fault.InvalidConfig, "profile %q has no mfa_serial", "dev")},
			wantStatus: 400, wantCode: "InvalidConfig", wantCalls: []string{`LoginNeeds("dev")`}},
		{name: "service error with code", method: "POST", path: "/v1/refresh", body: `{"profile":"a b"}`,
			svc:        &fakeService{err: &fault.Error{Kind: fault.InvalidInput, Code: "InvalidProfileName", Message: "bad name"}},
			wantStatus: 400, wantCode: "InvalidProfileName", wantCalls: []string{`Refresh("a b")`}},
		{name: "plain service error", method: "POST", path: "/v1/reload",
			svc:        &fakeService{err: errors.New("boom")},
			wantStatus: 500, wantCode: "InternalError", wantCalls: []string{"Reload()"}},
		{name: "unknown path", method: "GET", path: "/v2/status", wantStatus: 404, wantCode: "NotFound"},
		{name: "wrong method", method: "DELETE", path: "/v1/status", wantStatus: 405, wantCode: "MethodNotAllowed"},
		{name: "panic", method: "GET", path: "/v1/status", svc: &fakeService{panics: true}, wantStatus: 500, wantCode: "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.svc
			if svc == nil {
				svc = &fakeService{}
			}
			var r *http.Request
			if tt.body == "" {
				r = httptest.NewRequest(tt.method, "http://brokerd"+tt.path, nil)
			} else {
				r = httptest.NewRequest(tt.method, "http://brokerd"+tt.path, strings.NewReader(tt.body))
			}
			w := httptest.NewRecorder()
			control.Handler(svc, zap.NewNop()).ServeHTTP(w, r)

			what := fmt.Sprintf("%s %s %.40q", tt.method, tt.path, tt.body)
			if w.Code != tt.wantStatus {
				t.Errorf("%s = %d %s, want %d", what, w.Code, w.Body, tt.wantStatus)
			}
			if calls := svc.Calls(); !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("%s called %q, want %q", what, calls, tt.wantCalls)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s Content-Type = %q, want application/json", what, ct)
			}
			if tt.wantCode != "" {
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["code"] != tt.wantCode || body["message"] == "" || len(body) != 2 {
					t.Errorf("%s body = %s (%v), want code %s with a message", what, w.Body, err, tt.wantCode)
				}
				return
			}
			got := reflect.New(reflect.TypeOf(tt.wantBody))
			dec := json.NewDecoder(w.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(got.Interface()); err != nil {
				t.Fatalf("%s body = %s: %v", what, w.Body, err)
			}
			if !reflect.DeepEqual(got.Elem().Interface(), tt.wantBody) {
				t.Errorf("%s body = %+v, want %+v", what, got.Elem().Interface(), tt.wantBody)
			}
		})
	}
}
