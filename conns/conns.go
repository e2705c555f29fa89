// Package conns provides a listener that caps the connections an HTTP
// server holds: when full, it closes the oldest connection that is idle or
// has not finished sending its first request, so that clients that hold
// connections without using them cannot keep a real client out, and the
// process never runs out of file descriptors.
package conns

import (
	"net"
	"net/http"
	"sync"
)

// Listener caps the connections accepted from its inner listener. Set its
// Track method as the http.Server's ConnState.
type Listener struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*state
	seq   uint64 // orders state changes, cheaper than reading the clock
}

type state struct {
	since uint64         // when it entered its current state, as l.seq
	s     http.ConnState // New, Active or Idle
}

// Limit returns a listener over ln that holds at most max connections.
func Limit(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, max: max, conns: map[net.Conn]*state{}}
}

// Accept accepts a connection, first closing one that waits if the
// listener is full.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var victim net.Conn
	l.mu.Lock()
	l.seq++
	l.conns[c] = &state{since: l.seq, s: http.StateNew}
	if len(l.conns) > l.max {
		victim = l.oldestWaiting()
		delete(l.conns, victim)
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return c, nil
}

// oldestWaiting is the connection that has waited longest without a
// request under way; nil when every connection is busy. Call with l.mu.
func (l *Listener) oldestWaiting() net.Conn {
	var oldest net.Conn
	var since uint64
	for c, st := range l.conns {
		if st.s != http.StateActive && (oldest == nil || st.since < since) {
			oldest, since = c, st.since
		}
	}
	return oldest
}

// Track records a connection's state; it is the http.Server's ConnState.
func (l *Listener) Track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	case http.StateActive, http.StateIdle:
		if st, ok := l.conns[c]; ok {
			l.seq++
			st.s, st.since = s, l.seq
		}
	}
}

// Len is the number of connections held.
func (l *Listener) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
