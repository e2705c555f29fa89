package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

// TestShellVars_daemonStuck checks what env says of a daemon that takes
// its requests and never answers (stopped with Ctrl-Z, stuck): that it
// does not answer, its pid and what to do, not the client's "context
// deadline exceeded" and advice to start it.
func TestShellVars_daemonStuck(t *testing.T) {
	w := newShellWorld(t)
	ln, err := net.Listen("unix", w.dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	if err := w.dir.Publish(state.Endpoint{URL: "http://127.0.0.1:4242", PID: 77}); err != nil {
		t.Fatal(err)
	}
	_, warnings, err := (&env{}).shellVars(context.Background(), "", getenv())
	if err != nil || len(warnings) == 0 {
		t.Fatalf("shellVars() with a stuck daemon = %q, %v, want warnings", warnings, err)
	}
	want := "brokerd does not answer: the daemon (pid 77) took the request but gave no answer in time: it may be stopped (Ctrl-Z, kill -STOP; kill -CONT 77 resumes it) or stuck: " +
		"see its log (journalctl --user -u brokerd; on macOS ~/Library/Logs/brokerd/), and restart it if it stays so; " +
		"the lines below work once it answers, until then SDKs in this shell get no answer from http://127.0.0.1:4242"
	if warnings[0] != want {
		t.Errorf("warnings[0] = %q, want %q", warnings[0], want)
	}
}

// TestFetchCredentials_stuck checks that credential-process says a daemon
// that does not answer its endpoint is stopped or stuck, not "reach
// brokerd: … context deadline exceeded".
func TestFetchCredentials_stuck(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := fetchCredentials(ctx, srv.URL+"/v1/credentials/prod", token)
	if !errors.Is(err, control.ErrNotAnswering) || !strings.Contains(err.Error(), srv.URL+"/v1/credentials/prod gave no answer within 10s: the daemon may be stopped") {
		t.Errorf("fetchCredentials() from an endpoint that never answers = %v, want ErrNotAnswering saying the daemon may be stopped", err)
	}
}
