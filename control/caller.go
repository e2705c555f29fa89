package control

import (
	"context"
	"net"
)

// Caller is the process at the other end of a control connection, as the
// kernel names it (SO_PEERCRED on Linux, LOCAL_PEERCRED and LOCAL_PEERPID
// on macOS): the brokerd command that asked.
type Caller struct {
	PID int
	UID int
	// Exe is its executable, "" when it cannot be read (macOS, or the
	// process is gone).
	Exe string
}

type callerKey struct{}

// CallerOf returns the process that sent the request whose context is
// ctx; false when the server did not name it (a test's handler, a
// connection that is not a Unix socket's).
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// WithCaller returns ctx naming c as the process that asked, for tests of
// what the daemon does with it.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerContext is the control server's ConnContext: it names the process
// at the other end of c, once, for every request on c.
func callerContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	caller, ok := peerOf(uc)
	if !ok {
		return ctx
	}
	return WithCaller(ctx, caller)
}
