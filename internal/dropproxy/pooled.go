package dropproxy

import (
	"context"
	"net/http/httptrace"
	"testing"
	"time"
)

// UntilPooled calls call, with a context that traces its connection,
// until a call's connection goes back to its client's idle pool, so that
// the next call reuses it. A connection the transport closes instead (it
// lost the race between the answer and the end of writing the request)
// may report nothing: then call is made again after a second.
func UntilPooled(t testing.TB, call func(ctx context.Context) error) {
	t.Helper()
	idle := make(chan error, 1)
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{PutIdleConn: func(err error) {
		select {
		case idle <- err:
		default:
		}
	}})
	for {
		if err := call(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-idle:
			if err == nil {
				return
			}
		case <-time.After(time.Second):
		}
	}
}
