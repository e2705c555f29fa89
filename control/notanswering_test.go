package control_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

// TestClient_NotAnswering checks that a daemon that takes a request on its
// socket and never answers (stopped with Ctrl-Z, stuck) is said to be so,
// with its pid and what to do: the error was "talk to brokerd at SOCKET:
// Get "http://brokerd/v1/status": context deadline exceeded (Client.Timeout
// exceeded while awaiting headers)".
func TestClient_NotAnswering(t *testing.T) {
	dir := stateDir(t)
	ln, err := net.Listen("unix", dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accepts, reads, never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	if err := dir.Publish(state.Endpoint{URL: "http://127.0.0.1:9911", PID: 4242}); err != nil {
		t.Fatal(err)
	}
	c := control.NewClient(dir)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Status(ctx)
	want := "brokerd does not answer: the daemon (pid 4242) took the request but gave no answer in time: " +
		"it may be stopped (Ctrl-Z, kill -STOP; kill -CONT 4242 resumes it) or stuck: " +
		"see its log (journalctl --user -u brokerd; on macOS ~/Library/Logs/brokerd/), and restart it if it stays so"
	if !errors.Is(err, control.ErrNotAnswering) || err.Error() != want {
		t.Errorf("Status() from a daemon that never answers = %v, want %q", err, want)
	}
	if strings.Contains(err.Error(), "http://brokerd") {
		t.Errorf("Status() = %v, want no client internals", err)
	}

	// A request the caller ended is not the daemon's fault.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.Status(ctx); errors.Is(err, control.ErrNotAnswering) {
		t.Errorf("Status() cancelled by its caller = %v, want no ErrNotAnswering", err)
	}
}
