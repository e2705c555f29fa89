// Package wakepool provides an HTTP transport for the AWS clients of a
// daemon that runs through a laptop's sleeps: its pooled connections are
// not trusted after a sleep, nor when they answer nothing.
package wakepool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// sleepGap is how far the wall clock may run ahead of the monotonic
	// clock between two uses of the pool before its idle connections are
	// taken for dead: the monotonic clock stands still while a laptop
	// sleeps, and so do the transport's idle timers.
	sleepGap = 10 * time.Second
	// reusedWait is how long a request sent on a pooled connection waits
	// for the first byte of the answer before the connection is taken for
	// dead (its peer gone during a sleep or a network change, without a
	// FIN or RST reaching this side). STS and IAM Identity Center answer
	// in well under a second; a new connection is bounded only by the
	// client's timeout.
	reusedWait = 3 * time.Second
)

// ErrDeadConnection is returned for a request whose pooled connection gave
// no answer within its wait; an SDK's retryer may try once more, on a new
// connection (the SDK's standard retryer takes it for a connection error).
var ErrDeadConnection = errors.New("pooled connection gave no answer; taken for dead")

// Pool is an http.RoundTripper over a connection pool that does not
// trust its idle connections after a laptop's sleep: Go's idle timers, and
// TCP's, run on the monotonic clock, so after a night's sleep the pool
// still holds connections whose peer is long gone, and a request written
// into one waits for the client's timeout. A pool used again after the
// wall clock ran well ahead of the monotonic clock closes its idle
// connections first; a request on a reused connection that answers
// nothing within its Wait fails with ErrDeadConnection, and the idle
// connections are closed with it.
type Pool struct {
	tr   *http.Transport
	wall func() time.Time
	mono func() time.Duration
	// Wait is how long a request on a reused connection waits for the
	// first byte of its answer (New sets 3 s); set it before the first
	// request.
	Wait time.Duration

	mu       sync.Mutex
	lastWall time.Time
	lastMono time.Duration
}

// New returns a pool over tr. wall tells the wall-clock time and mono the
// monotonic time since some origin, so that the pool can tell a laptop
// slept; nil means the real clocks.
func New(tr *http.Transport, wall func() time.Time, mono func() time.Duration) *Pool {
	if wall == nil {
		wall = time.Now
	}
	if mono == nil {
		origin := time.Now()
		mono = func() time.Duration { return time.Since(origin) }
	}
	return &Pool{tr: tr, wall: wall, mono: mono, Wait: reusedWait}
}

// touch records a use of the pool, and reports whether the wall clock ran
// more than sleepGap ahead of the monotonic clock since the last.
func (p *Pool) touch() (slept bool) {
	wall, mono := p.wall().Round(0), p.mono()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.lastWall.IsZero() {
		slept = wall.Sub(p.lastWall)-(mono-p.lastMono) > sleepGap
	}
	p.lastWall, p.lastMono = wall, mono
	return slept
}

func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.touch() {
		p.tr.CloseIdleConnections()
	}
	defer p.touch()

	// A connection given up is closed, not the request's context
	// cancelled: a context ended just after the answer was read would
	// take the connection out of the pool.
	var (
		answered, given atomic.Bool
		mu              sync.Mutex
		timers          []*time.Timer // one per connection tried
	)
	once := req.Context().Value(onceOnlyKey{}) != nil
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused && !once {
				t := time.AfterFunc(p.Wait, func() {
					if !answered.Load() && given.CompareAndSwap(false, true) {
						info.Conn.Close()
					}
				})
				mu.Lock()
				timers = append(timers, t)
				mu.Unlock()
			}
		},
		GotFirstResponseByte: func() { answered.Store(true) },
	})
	resp, err := p.tr.RoundTrip(req.WithContext(ctx))
	// The answer's first byte, or the failure, has come: the waits are over.
	mu.Lock()
	for _, t := range timers {
		t.Stop()
	}
	mu.Unlock()
	if err != nil && given.Load() {
		// The others idle since the same moment are no better.
		p.tr.CloseIdleConnections()
		return nil, fmt.Errorf("%w (%v)", ErrDeadConnection, err)
	}
	return resp, err
}

type onceOnlyKey struct{}

// OnceOnly marks a request that must not be sent twice (it spends a
// one-time code or a refresh token that the service may rotate): its
// pooled connection is not given up for a slow answer, which may be on
// its way, to be tried again; the client's timeout bounds it as before.
func OnceOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, onceOnlyKey{}, true)
}

// CloseIdleConnections closes the pool's idle connections.
func (p *Pool) CloseIdleConnections() { p.tr.CloseIdleConnections() }
