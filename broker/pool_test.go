package broker

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/profile"
)

// TestWakingPool_DeadConnections checks that a connection to STS whose
// peer went away unseen (a laptop's sleep, a network change: no FIN or RST
// reaches this side, and writes into it succeed) does not make the next
// call wait for the client's timeout: after a sleep the pool closes its
// idle connections before the call, and without one a reused connection
// that answers nothing is given up within its wait and the call tried
// once on a new one. A live pool is still reused.
func TestWakingPool_DeadConnections(t *testing.T) {
	tests := []struct {
		name      string
		die       bool          // the pooled connection dies unseen
		sleep     time.Duration // the wall clock moves this much, the monotonic clock not
		wait      time.Duration // for an answer on a reused connection
		wantConns int           // connections the second call opened
		wantLost  int64         // bytes written into the dead connection
	}{
		{"alive, awake", false, 0, time.Hour, 0, 0},
		{"dead after a night's sleep", true, 8 * time.Hour, time.Hour, 1, 0},
		{"dead after a short sleep", true, time.Minute, time.Hour, 1, 0},
		{"dead, awake (network change)", true, 0, 50 * time.Millisecond, 1, 1},
		{"alive after a sleep", false, 8 * time.Hour, time.Hour, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/xml")
				io.WriteString(w, callerIdentity)
			}))
			defer srv.Close()
			proxy := newDropProxy(t, srv.Listener.Addr().String())
			t.Setenv("AWS_ENDPOINT_URL_STS", "http://"+proxy.addr())
			t.Setenv("AWS_REGION", "us-east-1")

			var mu sync.Mutex
			wall, mono := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC), time.Duration(0)
			s := &stsClients{
				wall: func() time.Time { mu.Lock(); defer mu.Unlock(); return wall },
				mono: func() time.Duration { mu.Lock(); defer mu.Unlock(); return mono },
			}
			t.Cleanup(s.close)
			c, err := s.get(t.Context(), profile.Profile{}, profile.Profile{})
			if err != nil {
				t.Fatal(err)
			}
			s.pool.wait = tt.wait
			// The answer read, its connection goes back to the pool a
			// moment later, unless the transport lost the race between the
			// answer and the end of writing the request: then it closes the
			// connection, and the call is made again.
			idle := make(chan error, 1)
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{PutIdleConn: func(err error) {
				select {
				case idle <- err:
				default:
				}
			}})
			for pooled := false; !pooled; {
				if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
					t.Fatalf("GetCallerIdentity = %v", err)
				}
				select {
				case err := <-idle:
					pooled = err == nil
				case <-proxy.closed:
				}
			}
			conns, answered := proxy.accepted(), calls.Load()

			mu.Lock()
			wall, mono = wall.Add(tt.sleep+time.Second), mono+time.Second
			mu.Unlock()
			if tt.die {
				proxy.kill()
			}
			if _, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
				t.Fatalf("GetCallerIdentity after %v asleep (connection dead: %v) = %v, want credentials", tt.sleep, tt.die, err)
			}
			if got := proxy.accepted() - conns; got != tt.wantConns {
				t.Errorf("new connections = %d, want %d", got, tt.wantConns)
			}
			if lost := proxy.lost.Load(); (lost > 0) != (tt.wantLost > 0) {
				t.Errorf("bytes written into the dead connection = %d, want some: %v", lost, tt.wantLost > 0)
			}
			if got := calls.Load() - answered; got != 1 {
				t.Errorf("STS answered %d calls, want 1", got)
			}
		})
	}
}

const callerIdentity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
	`<Arn>arn:aws:iam::123456789012:user/dev</Arn><UserId>AIDA</UserId><Account>123456789012</Account>` +
	`</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`

// dropProxy forwards TCP connections to a target until killed: then the
// connections open so far lose every byte either way, and stay open, as
// a connection whose peer vanished while a laptop slept. Connections made
// later are forwarded.
type dropProxy struct {
	ln     net.Listener
	to     string
	lost   atomic.Int64  // bytes sent into dead connections
	closed chan struct{} // a value each time a client closes a live connection

	mu    sync.Mutex
	conns []*dropConn
}

type dropConn struct {
	dead atomic.Bool
}

func newDropProxy(t *testing.T, to string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, to: to, closed: make(chan struct{}, 100)}
	var wg sync.WaitGroup
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range open {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			dc := &dropConn{}
			p.mu.Lock()
			p.conns = append(p.conns, dc)
			open = append(open, in, out)
			p.mu.Unlock()
			wg.Go(func() { p.pipe(dc, out, in, true) })
			wg.Go(func() { p.pipe(dc, in, out, false) })
		}
	})
	return p
}

// pipe copies from src to dst while the connection lives.
func (p *dropProxy) pipe(dc *dropConn, dst, src net.Conn, fromClient bool) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if dc.dead.Load() {
				if fromClient {
					p.lost.Add(int64(n))
				}
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !dc.dead.Load() {
				dst.Close()
				if fromClient {
					select {
					case p.closed <- struct{}{}:
					default:
					}
				}
			}
			return
		}
	}
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

// kill makes every connection open so far lose its bytes.
func (p *dropProxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.dead.Store(true)
	}
}

func (p *dropProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// TestWakingPool_OnceOnly checks that a call that spends a one-time MFA
// code is not sent again when its answer is slow on a reused connection:
// the code may have been spent, and the second call would be refused.
// Other calls are given up and tried once more on a new connection.
func TestWakingPool_OnceOnly(t *testing.T) {
	for _, once := range []bool{false, true} {
		t.Run(fmt.Sprintf("once only %v", once), func(t *testing.T) {
			var calls, slow atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				calls.Add(1)
				if slow.Load() == 1 {
					slow.Store(0)
					time.Sleep(300 * time.Millisecond) // slower than the wait below
				}
				w.Header().Set("Content-Type", "text/xml")
				io.WriteString(w, callerIdentity)
			}))
			closed := make(chan struct{}, 100)
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateClosed {
					select {
					case closed <- struct{}{}:
					default:
					}
				}
			}
			srv.Start()
			defer srv.Close()
			t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
			t.Setenv("AWS_REGION", "us-east-1")
			s := &stsClients{}
			t.Cleanup(s.close)
			c, err := s.get(t.Context(), profile.Profile{}, profile.Profile{})
			if err != nil {
				t.Fatal(err)
			}
			s.pool.wait = 50 * time.Millisecond
			// As in TestWakingPool_DeadConnections: until a connection is pooled.
			idle := make(chan error, 1)
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{PutIdleConn: func(err error) {
				select {
				case idle <- err:
				default:
				}
			}})
			for pooled := false; !pooled; {
				if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-idle:
					pooled = err == nil
				case <-closed:
				}
			}
			before := calls.Load()
			slow.Store(1)
			ctx = t.Context()
			if once {
				ctx = onceOnly(ctx)
			}
			if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				t.Fatalf("GetCallerIdentity with a slow answer = %v", err)
			}
			want := int32(2) // given up, and sent again
			if once {
				want = 1
			}
			if got := calls.Load() - before; got != want {
				t.Errorf("calls = %d, want %d", got, want)
			}
		})
	}
}
