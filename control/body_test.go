package control

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestReadBody sends bodies that are slow, never end or are too large,
// over a real connection: each is answered without reaching the handler,
// and its connection closed; a handler reached keeps its context past the
// body's deadline, as SSOWait needs.
func TestReadBody(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name       string
		request    string // sent at once; the connection then stays open
		wantStatus int
		wantCalled bool
	}{
		{name: "body slower than the deadline",
			request:    "POST /v1/login HTTP/1.1\r\nHost: brokerd\r\nContent-Length: 100\r\n\r\n{\"profile\":",
			wantStatus: http.StatusRequestTimeout},
		{name: "chunked body that never ends",
			request:    "POST /v1/status HTTP/1.1\r\nHost: brokerd\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n \r\n",
			wantStatus: http.StatusRequestTimeout},
		{name: "body over the limit",
			request:    "POST /v1/reload HTTP/1.1\r\nHost: brokerd\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat(" ", 70000),
			wantStatus: http.StatusBadRequest},
		{name: "unread body on a route that takes none",
			request:    "GET /v1/status HTTP/1.1\r\nHost: brokerd\r\nContent-Length: 10\r\n\r\n{}",
			wantStatus: http.StatusRequestTimeout},
		{name: "whole body", request: "POST /v1/login HTTP/1.1\r\nHost: brokerd\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
			wantStatus: http.StatusOK, wantCalled: true},
		{name: "no body", request: "GET /v1/status HTTP/1.1\r\nHost: brokerd\r\nConnection: close\r\n\r\n",
			wantStatus: http.StatusOK, wantCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called atomic.Bool
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called.Store(true)
				if _, err := io.ReadAll(r.Body); err != nil {
					t.Errorf("read body: %v", err)
				}
				// Past the body's deadline, the client still there.
				time.Sleep(4 * timeout)
				if err := r.Context().Err(); err != nil {
					t.Errorf("handler's context ended with the client still there: %v", err)
				}
			})
			srv := httptest.NewServer(handler{log: zap.NewNop()}.readBody(next, timeout))
			t.Cleanup(srv.Close)
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := io.WriteString(c, tt.request); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound on a failing test only
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%q: no answer: %v", tt.request[:20], err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tt.wantStatus || called.Load() != tt.wantCalled {
				t.Errorf("%q = %d (handler called %v), want %d (%v)", tt.request[:20], resp.StatusCode, called.Load(), tt.wantStatus, tt.wantCalled)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("%q: connection still open after the answer (%v), want closed", tt.request[:20], err)
			}
		})
	}
}
