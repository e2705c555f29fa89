package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
)

var (
	fakeSSOLogin = control.SSOLogin{ID: "l1", Session: "my-sso", StartURL: "https://my-sso.awsapps.com/start",
		VerificationURI: "https://device.sso.eu-west-1.amazonaws.com/", VerificationURIComplete: "https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH",
		UserCode: "ABCD-EFGH", Expires: fakeStarted.Add(10 * time.Minute)}
	fakeSSOSession = control.SSOSession{Name: "my-sso", StartURL: "https://my-sso.awsapps.com/start", Region: "eu-west-1",
		Profiles: []string{"sso-dev"}, SignedIn: true, Refreshable: true}
	// fakeConsoleURL holds a sign-in token, which the control socket must
	// never log.
	fakeConsoleURL = control.ConsoleURL{URL: "https://signin.aws.amazon.com/federation?Action=login&SigninToken=secret-signin-token"}
)

func (f *fakeService) SSOLogin(_ context.Context, name string) (control.SSOLogin, error) {
	return fakeSSOLogin, f.record("SSOLogin(%q)", name)
}

func (f *fakeService) SSOWait(_ context.Context, w control.SSOWait) (control.SSOWaitResult, error) {
	return control.SSOWaitResult{Done: true, Session: fakeSSOSession}, f.record("SSOWait(%+v)", w)
}

func (f *fakeService) Console(_ context.Context, c control.Console) (control.ConsoleURL, error) {
	return fakeConsoleURL, f.record("Console(%+v)", c)
}

func TestHandler_SSOAndConsole(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantBody         any
		wantCall         string
	}{
		{"sso login", "/v1/sso/login", `{"profile":"my-sso"}`, fakeSSOLogin, `SSOLogin("my-sso")`},
		{"sso wait", "/v1/sso/wait", `{"id":"l1","seconds":20}`, control.SSOWaitResult{Done: true, Session: fakeSSOSession},
			`SSOWait({ID:l1 Seconds:20})`},
		{"console", "/v1/console", `{"profile":"prod","destination":"s3","region":"eu-west-1","duration_seconds":3600}`, fakeConsoleURL,
			`Console({Profile:prod Destination:s3 Region:eu-west-1 DurationSeconds:3600})`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			core, logs := observer.New(zap.DebugLevel)
			rec := httptest.NewRecorder()
			control.Handler(svc, zap.New(core)).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body)))
			if rec.Code != http.StatusOK {
				t.Fatalf("POST %s = %d %s, want 200", tt.path, rec.Code, rec.Body)
			}
			got := reflect.New(reflect.TypeOf(tt.wantBody))
			if err := json.Unmarshal(rec.Body.Bytes(), got.Interface()); err != nil || !reflect.DeepEqual(got.Elem().Interface(), tt.wantBody) {
				t.Errorf("POST %s body = %s, %v, want %+v", tt.path, rec.Body, err, tt.wantBody)
			}
			if calls := svc.Calls(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Errorf("POST %s calls = %q, want %q", tt.path, calls, tt.wantCall)
			}
			for _, e := range logs.All() {
				if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), "secret-signin-token") {
					t.Errorf("POST %s logged the sign-in token: %s %v", tt.path, e.Message, e.ContextMap())
				}
			}
			// Unknown fields are refused, as on every route.
			rec = httptest.NewRecorder()
			control.Handler(svc, zap.NewNop()).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(`{"nope":1}`)))
			if rec.Code != http.StatusBadRequest {
				t.Errorf("POST %s with an unknown field = %d, want 400", tt.path, rec.Code)
			}
		})
	}
	if s := fmt.Sprint(fakeConsoleURL) + fmt.Sprintf("%#v", fakeConsoleURL); strings.Contains(s, "secret-signin-token") {
		t.Errorf("ConsoleURL prints as %q, showing the sign-in token", s)
	}
}

// pendingService answers SSOWait "not done" until the sign-in's nth wait.
type pendingService struct {
	*fakeService
	mu    sync.Mutex
	waits int
	done  int
}

func (p *pendingService) SSOWait(ctx context.Context, w control.SSOWait) (control.SSOWaitResult, error) {
	p.mu.Lock()
	p.waits++
	n := p.waits
	p.mu.Unlock()
	if n < p.done {
		return control.SSOWaitResult{}, nil
	}
	return p.fakeService.SSOWait(ctx, w)
}

func TestClient_SSOAndConsole(t *testing.T) {
	dir := stateDir(t)
	svc := &pendingService{fakeService: &fakeService{}, done: 3}
	serve(t, dir, svc)
	c := control.NewClient(dir)
	t.Cleanup(c.Close)
	ctx := t.Context()

	l, err := c.SSOLogin(ctx, "sso-dev")
	if err != nil || !reflect.DeepEqual(l, fakeSSOLogin) {
		t.Errorf("SSOLogin(sso-dev) = %+v, %v, want %+v", l, err, fakeSSOLogin)
	}
	// The client asks again, MaxSSOWait at a time, until the sign-in ends.
	s, err := c.SSOWait(ctx, "l1")
	if err != nil || !reflect.DeepEqual(s, fakeSSOSession) {
		t.Errorf("SSOWait(l1) = %+v, %v, want %+v", s, err, fakeSSOSession)
	}
	svc.mu.Lock()
	waits := svc.waits
	svc.mu.Unlock()
	if waits != 3 {
		t.Errorf("SSOWait(l1) asked %d times, want 3", waits)
	}
	u, err := c.Console(ctx, control.Console{Profile: "prod", Destination: "s3"})
	if err != nil || u != fakeConsoleURL {
		t.Errorf("Console(prod) = %v, %v, want the URL", u, err)
	}

	// A failed sign-in ends the wait with the daemon's error.
	svc.fakeService.mu.Lock()
	svc.fakeService.err = fault.New(fault.LoginRequired, "the sign-in code expired before it was approved: run brokerd login my-sso again")
	svc.fakeService.mu.Unlock()
	if _, err := c.SSOWait(ctx, "l1"); err == nil || !strings.Contains(err.Error(), "run brokerd login my-sso again") {
		t.Errorf("SSOWait(l1) of an expired sign-in = %v, want the daemon's message", err)
	}
	// So does the caller's context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.SSOWait(cctx, "l1"); err == nil {
		t.Error("SSOWait with an ended context = nil error, want one")
	}
}
