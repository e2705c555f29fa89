package control_test

import (
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/state"
)

// stateDir returns a new state directory. Its path is short: a Unix
// socket's path must be under 108 bytes, which t.TempDir's may not be.
func stateDir(t *testing.T) state.Dir {
	t.Helper()
	path, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(path) })
	dir, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// serve serves svc's control API on dir's socket, as the daemon does,
// until the test ends.
func serve(t *testing.T, dir state.Dir, svc control.Service) {
	t.Helper()
	ln, err := net.Listen("unix", dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(control.Handler(svc, zap.NewNop()))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}

// TestClient_RoundTrip calls each method of the Client against the
// Handler over the Unix socket, and checks what reaches the service and
// what comes back.
func TestClient_RoundTrip(t *testing.T) {
	dir := stateDir(t)
	svc := &fakeService{}
	serve(t, dir, svc)
	c := control.NewClient(dir)
	t.Cleanup(c.Close)
	ctx := t.Context()

	st, err := c.Status(ctx)
	if err != nil || !reflect.DeepEqual(st, fakeStatus) {
		t.Errorf("Status() = %+v, %v, want %+v", st, err, fakeStatus)
	}
	names, err := c.Names(ctx)
	if err != nil || !reflect.DeepEqual(names, fakeNames) {
		t.Errorf("Names() = %+v, %v, want %+v", names, err, fakeNames)
	}
	if err := c.Refresh(ctx, "a,b/50%"); err != nil {
		t.Errorf("Refresh(%q) = %v", "a,b/50%", err)
	}
	if err := c.Reload(ctx); err != nil {
		t.Errorf("Reload() = %v", err)
	}
	needs, err := c.LoginNeeds(ctx, "dev")
	if err != nil || needs != fakeNeeds {
		t.Errorf("LoginNeeds(dev) = %+v, %v, want %+v", needs, err, fakeNeeds)
	}
	login := control.Login{Profile: "dev", Code: "123456", DurationSeconds: 3600}
	res, err := c.Login(ctx, login)
	if err != nil || !reflect.DeepEqual(res, fakeResult) {
		t.Errorf("Login(%+v) = %+v, %v, want %+v", login, res, err, fakeResult)
	}
	src, err := c.Logout(ctx, "dev")
	if err != nil || src != "base" {
		t.Errorf("Logout(dev) = %q, %v, want %q", src, err, "base")
	}
	if err := c.KeysChanged(ctx, control.KeysChange{Profile: "dev", Removed: true}); err != nil {
		t.Errorf("KeysChanged(dev, removed) = %v", err)
	}

	want := []string{
		"Status()",
		"Names()",
		`Refresh("a,b/50%")`,
		"Reload()",
		`LoginNeeds("dev")`,
		"Login({Profile:dev Code:123456 DurationSeconds:3600})",
		`Logout("dev")`,
		"KeysChanged({Profile:dev Removed:true})",
	}
	if calls := svc.Calls(); !slices.Equal(calls, want) {
		t.Errorf("the service was called with\n%q\nwant\n%q", calls, want)
	}
}

// TestClient_Error checks that the daemon's error answer comes back as a
// *control.Error with its status, code and message.
func TestClient_Error(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"kind", fault.New(fault.LoginRequired, "log in to profile %q first: brokerd login %s", "base", "base"),
			401, "LoginRequired", `log in to profile "base" first: brokerd login base`},
		{"code", &fault.Error{Kind: fault.Refused, Code: "InvalidMFACode", Message: "STS refused the MFA code"},
			403, "InvalidMFACode", "STS refused the MFA code"},
		{"plain", errors.New("boom"), 500, "InternalError", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := stateDir(t)
			serve(t, dir, &fakeService{err: tt.err})
			c := control.NewClient(dir)
			defer c.Close()
			_, err := c.LoginNeeds(t.Context(), "dev")
			var e *control.Error
			if !errors.As(err, &e) {
				t.Fatalf("LoginNeeds with the daemon failing = %v (%T), want a *control.Error", err, err)
			}
			if e.Status != tt.wantStatus || e.Code != tt.wantCode || e.Message != tt.wantMsg || e.Error() != tt.wantMsg {
				t.Errorf("LoginNeeds with the daemon failing = %+v, want status %d, code %q, message %q", e, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}
		})
	}

	// A bug in the daemon still comes back as its error answer.
	dir := stateDir(t)
	serve(t, dir, &fakeService{panics: true})
	c := control.NewClient(dir)
	defer c.Close()
	_, err := c.Status(t.Context())
	var e *control.Error
	if !errors.As(err, &e) || e.Status != 500 || e.Code != "InternalError" || e.Message == "" {
		t.Errorf("Status with the daemon panicking = %v, want a *control.Error 500 InternalError with a message", err)
	}
}

func TestClient_NotRunning(t *testing.T) {
	dir := stateDir(t)
	if err := control.NewClient(dir).Reload(t.Context()); !errors.Is(err, state.ErrNotRunning) {
		t.Errorf("Reload() without a daemon = %v, want state.ErrNotRunning", err)
	}
	// A socket left by a daemon that died refuses connections.
	ln, err := net.Listen("unix", dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := control.NewClient(dir).Reload(t.Context()); !errors.Is(err, state.ErrNotRunning) {
		t.Errorf("Reload() with a stale socket = %v, want state.ErrNotRunning", err)
	}
}
