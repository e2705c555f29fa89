// Package dropproxy provides, for tests, a TCP proxy whose connections can
// be made to die unseen: no FIN or RST reaches either side, and writes
// into them succeed, as after a laptop's sleep or a network change.
package dropproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a target until killed: then the
// connections open so far lose every byte either way, and stay open, as
// a connection whose peer vanished while a laptop slept. Connections made
// later are forwarded.
type Proxy struct {
	ln net.Listener
	to string
	// Lost counts the bytes clients sent into dead connections.
	Lost atomic.Int64

	mu    sync.Mutex
	conns []*conn
}

type conn struct {
	dead atomic.Bool
}

// New starts a proxy to the TCP address to on a loopback port; it stops
// when t ends.
func New(t testing.TB, to string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, to: to}
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
			dc := &conn{}
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
func (p *Proxy) pipe(dc *conn, dst, src net.Conn, fromClient bool) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if dc.dead.Load() {
				if fromClient {
					p.Lost.Add(int64(n))
				}
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !dc.dead.Load() {
				dst.Close()
			}
			return
		}
	}
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Kill makes every connection open so far lose its bytes.
func (p *Proxy) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.dead.Store(true)
	}
}

// Accepted is how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
