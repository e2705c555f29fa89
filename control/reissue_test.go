package control_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

// fakeReissuer is a service that reissues tokens, noting each request and
// who the server said asked.
type fakeReissuer struct {
	fakeService
	got    []control.ReissueRequest
	caller control.Caller
	named  bool
}

var _ control.Reissuer = (*fakeReissuer)(nil)

func (f *fakeReissuer) ReissueToken(ctx context.Context, r control.ReissueRequest) (control.IssuedToken, error) {
	f.got = append(f.got, r)
	f.caller, f.named = control.CallerOf(ctx)
	return control.IssuedToken{ContainerToken: control.ContainerToken{ID: "c0123abcd", Label: r.Label, Profiles: r.Profiles},
		TokenFile: r.TokenFile}, nil
}

// serveServer serves svc with control.Server, as the daemon does (it
// names the caller of each connection), on dir's socket.
func serveServer(t *testing.T, dir state.Dir, svc control.Service) {
	t.Helper()
	ln, err := net.Listen("unix", dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := control.Server(svc, zap.NewNop())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// ReissueToken reaches the daemon's Reissuer with the request whole, and
// the server names the process that asked (this test's) from the socket.
func TestClient_ReissueToken(t *testing.T) {
	dir := stateDir(t)
	svc := &fakeReissuer{}
	serveServer(t, dir, svc)
	c := control.NewClient(dir)
	t.Cleanup(c.Close)
	req := control.ReissueRequest{TokenFile: dir.Join("containers/c0123abcd/token"), ContainerID: "ab12",
		Label: "web", Profiles: []string{"prod", "dev"}, TTLSeconds: 3600, ReaderUID: 1000}
	tok, err := c.ReissueToken(t.Context(), req)
	if err != nil || tok.ID != "c0123abcd" || tok.TokenFile != req.TokenFile {
		t.Fatalf("ReissueToken = %+v, %v", tok, err)
	}
	if !reflect.DeepEqual(svc.got, []control.ReissueRequest{req}) {
		t.Errorf("the service got %+v, want %+v", svc.got, req)
	}
	if !svc.named || svc.caller.PID != os.Getpid() || svc.caller.UID != os.Getuid() {
		t.Errorf("CallerOf = %+v, %v; want pid %d uid %d", svc.caller, svc.named, os.Getpid(), os.Getuid())
	}
	if exe, _ := os.Executable(); runtime.GOOS == "linux" && svc.caller.Exe != exe {
		t.Errorf("CallerOf names executable %q, want %q", svc.caller.Exe, exe)
	}
}

// A daemon without the route (older than the CLI) says to restart it.
func TestClient_ReissueTokenOldDaemon(t *testing.T) {
	dir := stateDir(t)
	serveServer(t, dir, &fakeService{})
	c := control.NewClient(dir)
	t.Cleanup(c.Close)
	_, err := c.ReissueToken(t.Context(), control.ReissueRequest{TokenFile: "x"})
	var ce *control.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Errorf("ReissueToken from a daemon without it = %v, want 404 saying to restart it", err)
	}
}
