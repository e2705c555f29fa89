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
	"sync/atomic"
	"syscall"
)

// Max is how many connections a server of brokerd holds: half the file
// descriptors the process may open, between 16 and 4096, so that clients
// holding connections never starve the keychain, STS and real clients.
func Max() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(max(rl.Cur/2, 16), 4096))
}

// Listener caps the connections accepted from its inner listener. Set
// Track as the http.Server's ConnState. A connection's requests
// cost an atomic store each; only its accept and close take a lock.
type Listener struct {
	*net.TCPListener
	max int
	seq atomic.Uint64 // orders state changes, cheaper than reading the clock

	mu   sync.Mutex
	head *Conn // the connections held, newest first
	n    int
}

// Conn is a connection that Listener accepted, with the state the server
// last reported. It embeds the TCP connection itself, not an interface, so
// that its reads and writes are direct calls.
type Conn struct {
	*net.TCPConn
	l     *Listener     // that accepted it
	state atomic.Uint64 // since<<2 | s: when it entered s (as seq), s New, Active or Idle

	prev, next *Conn // in the listener's list; guarded by its mu
	held       bool  // in the list; guarded by its mu
}

// Limit returns a listener over ln that holds at most max connections.
func Limit(ln *net.TCPListener, max int) *Listener {
	return &Listener{TCPListener: ln, max: max}
}

// Accept accepts a connection, first closing one that waits if the
// listener is full.
func (l *Listener) Accept() (net.Conn, error) {
	inner, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	c := &Conn{TCPConn: inner, l: l}
	c.set(l, http.StateNew)
	var victim *Conn
	l.mu.Lock()
	c.next, c.held = l.head, true
	if l.head != nil {
		l.head.prev = c
	}
	l.head = c
	l.n++
	if l.n > l.max {
		if victim = l.oldestWaiting(); victim != nil {
			l.remove(victim)
		}
	}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return c, nil
}

func (c *Conn) set(l *Listener, s http.ConnState) {
	c.state.Store(l.seq.Add(1)<<2 | uint64(s))
}

// oldestWaiting is the connection that has waited longest without a
// request under way; nil when every connection is busy. Call with l.mu.
func (l *Listener) oldestWaiting() *Conn {
	var oldest *Conn
	var since uint64
	for c := l.head; c != nil; c = c.next {
		st := c.state.Load()
		if http.ConnState(st&3) != http.StateActive && (oldest == nil || st>>2 < since) {
			oldest, since = c, st>>2
		}
	}
	return oldest
}

// remove takes c out of the list. Call with l.mu.
func (l *Listener) remove(c *Conn) {
	if !c.held {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.held = nil, nil, false
	l.n--
}

// Track records a connection's state with the listener that accepted it;
// it is the http.Server's ConnState, for any number of listeners.
// Connections that no Listener accepted are ignored.
func Track(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok {
		return
	}
	l := c.l
	switch s {
	case http.StateClosed, http.StateHijacked:
		l.mu.Lock()
		l.remove(c)
		l.mu.Unlock()
	case http.StateActive, http.StateIdle:
		c.set(l, s)
	}
}

// Len is the number of connections held.
func (l *Listener) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
