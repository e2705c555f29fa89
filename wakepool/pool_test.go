package wakepool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerd/brokerd/internal/dropproxy"
)

// TestPool_DeadConnections checks that a pooled connection whose peer went
// away unseen (a laptop's sleep, a network change: no FIN or RST reaches
// this side, and writes into it succeed) is not written into after a
// sleep, and is given up within its wait when awake, for an SDK's retryer
// to try a new one; a live pool is reused.
func TestPool_DeadConnections(t *testing.T) {
	tests := []struct {
		name      string
		die       bool          // the pooled connection dies unseen
		sleep     time.Duration // the wall clock moves this much, the monotonic clock not
		wait      time.Duration // for an answer on a reused connection
		wantErr   error         // of the call after the sleep
		wantConns int           // connections the second call opened
	}{
		{"alive, awake", false, 0, time.Hour, nil, 0},
		{"dead after a night's sleep", true, 8 * time.Hour, time.Hour, nil, 1},
		{"dead, awake (network change)", true, 0, 50 * time.Millisecond, ErrDeadConnection, 0},
		{"alive after a sleep", false, 8 * time.Hour, time.Hour, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, `{}`)
			}))
			defer srv.Close()
			proxy := dropproxy.New(t, srv.Listener.Addr().String())

			var mu sync.Mutex
			wall, mono := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC), time.Duration(0)
			tr := http.DefaultTransport.(*http.Transport).Clone()
			pool := New(tr,
				func() time.Time { mu.Lock(); defer mu.Unlock(); return wall },
				func() time.Duration { mu.Lock(); defer mu.Unlock(); return mono })
			pool.Wait = tt.wait
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: pool, Timeout: 10 * time.Second}
			call := func(ctx context.Context) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+proxy.Addr()+"/", nil)
				if err != nil {
					return err
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				_, err = io.Copy(io.Discard, resp.Body)
				return err
			}
			dropproxy.UntilPooled(t, call)
			conns := proxy.Accepted()

			mu.Lock()
			wall, mono = wall.Add(tt.sleep+time.Second), mono+time.Second
			mu.Unlock()
			if tt.die {
				proxy.Kill()
			}
			if err := call(t.Context()); !errors.Is(err, tt.wantErr) {
				t.Fatalf("call after %v asleep (connection dead: %v) = %v, want %v", tt.sleep, tt.die, err, tt.wantErr)
			}
			if got := proxy.Accepted() - conns; got != tt.wantConns {
				t.Errorf("new connections = %d, want %d", got, tt.wantConns)
			}
		})
	}
}

// TestPool_OnceOnly checks that a request marked OnceOnly is not given up
// for a slow answer on a reused connection, which may be on its way (a
// one-time code spent, a refresh token rotated), while any other is.
func TestPool_OnceOnly(t *testing.T) {
	for _, once := range []bool{false, true} {
		t.Run(fmt.Sprintf("once only %v", once), func(t *testing.T) {
			var slow atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if slow.Load() {
					time.Sleep(300 * time.Millisecond) // slower than the wait below
				}
				io.WriteString(w, `{}`)
			}))
			defer srv.Close()
			tr := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(tr.CloseIdleConnections)
			pool := New(tr, nil, nil)
			pool.Wait = 50 * time.Millisecond
			client := &http.Client{Transport: pool}
			call := func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				_, err = io.Copy(io.Discard, resp.Body)
				return err
			}
			dropproxy.UntilPooled(t, call)
			slow.Store(true)
			ctx := t.Context()
			if once {
				ctx = OnceOnly(ctx)
			}
			err := call(ctx)
			if once && err != nil {
				t.Errorf("once-only call with a slow answer = %v, want its answer", err)
			}
			if !once && !errors.Is(err, ErrDeadConnection) {
				t.Errorf("call with a slow answer = %v, want ErrDeadConnection", err)
			}
		})
	}
}
