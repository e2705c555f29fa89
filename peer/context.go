package peer

import (
	"context"
	"errors"
	"net"
	"sync"
)

// conn is a connection's lookup, run at most once.
type conn struct {
	once   sync.Once
	f      *Finder
	local  net.Addr
	remote net.Addr
	p      Process
	err    error
}

type ctxKey struct{}

// ConnContext fits http.Server.ConnContext: it returns ctx carrying c's
// addresses, and costs no lookup. The first FromContext of a request on c
// looks up the client; later ones, on any request of c, return that answer.
func (f *Finder) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, ctxKey{}, &conn{f: f, local: c.LocalAddr(), remote: c.RemoteAddr()})
}

// ErrNoConn is returned by FromContext for a context that did not come
// from Finder.ConnContext.
var ErrNoConn = errors.New("context carries no connection")

// FromContext returns the client of the connection ctx belongs to, looking
// it up on the first call (milliseconds: call it off the request path,
// e.g. after writing the response) and returning that answer, Process and
// error alike, on later calls. Concurrent first calls wait for one lookup.
func FromContext(ctx context.Context) (Process, error) {
	c, ok := ctx.Value(ctxKey{}).(*conn)
	if !ok {
		return Process{}, ErrNoConn
	}
	c.once.Do(func() { c.p, c.err = c.f.Lookup(c.local, c.remote) })
	return c.p, c.err
}
