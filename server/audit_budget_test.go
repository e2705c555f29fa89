package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/peer"
)

type memLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (m *memLog) Write(p []byte) (int, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.b.Write(p) }
func (m *memLog) Close() error                { return nil }

// Searches of every process may take LookupShare of the time in CPU time,
// with LookupBurst saved up: a connection that needs one when it is spent
// is counted without a client.
func TestAudit_LookupBudget(t *testing.T) {
	clock := clockwork.NewFakeClock()
	out := &memLog{}
	l := audit.New(out, audit.Config{Clock: clock})
	a := NewAudit(l, AuditConfig{Clock: clock, LookupShare: 0.1, LookupBurst: 10 * time.Millisecond})
	lookups := 0
	a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
		if !s.Allow() {
			return peer.Process{UID: 1000}, peer.ErrNotSearched
		}
		lookups++
		s.Spent(6 * time.Millisecond) // what the search cost
		return peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/aws", Searched: true}, nil
	}
	c := cache.Served{}
	c.AccessKeyID = "ASIAEXAMPLEEXAMPLE01"
	request := func() { issueOnNewConn(a, &c) }
	request()                            // 10 ms saved: looked up, 4 left
	request()                            // looked up, 2 owed
	request()                            // counted
	clock.Advance(10 * time.Millisecond) // 1 more: 1 owed
	request()                            // counted
	clock.Advance(20 * time.Millisecond) // 2 more: 1 left
	request()
	a.Flush()
	l.Close()
	if lookups != 3 {
		t.Errorf("%d lookups, want 3", lookups)
	}
	var named, counted int
	dec := json.NewDecoder(&out.b)
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Client != nil && e.Client.PID == 42:
			named += e.N()
		case e.Client != nil && e.Client.PID == 0 && e.Client.UID == 1000 && e.Note == notLookedUp:
			counted += e.N()
		default:
			t.Errorf("unexpected event %+v", e)
		}
	}
	if named != 3 || counted != 2 {
		t.Errorf("%d issuances named and %d counted without a client, want 3 and 2", named, counted)
	}
}

// Lookups are counted: a burst of them takes LookupRateBurst, then
// LookupRate a second, searches or not.
func TestAudit_LookupRate(t *testing.T) {
	clock := clockwork.NewFakeClock()
	l := audit.New(&memLog{}, audit.Config{Clock: clock})
	defer l.Close()
	a := NewAudit(l, AuditConfig{Clock: clock, LookupRate: 1, LookupRateBurst: 3})
	lookups := 0
	a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
		lookups++
		return peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/aws"}, nil
	}
	request := func() { issueOnNewConn(a, &cache.Served{}) }
	for range 4 { // 3 saved up
		request()
	}
	if lookups != 3 {
		t.Errorf("%d lookups of 4 at once, want 3", lookups)
	}
	clock.Advance(time.Second)
	request()
	if lookups != 4 {
		t.Errorf("%d lookups after a second, want 4", lookups)
	}
}

// At most Lookups run at once: each reads the whole socket table.
func TestAudit_LookupsAtOnce(t *testing.T) {
	out := &memLog{}
	l := audit.New(out, audit.Config{})
	defer l.Close()
	a := NewAudit(l, AuditConfig{Lookups: 2})
	var mu sync.Mutex
	running, most := 0, 0
	a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return peer.Process{PID: 7, Exe: "/x"}, nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { issueOnNewConn(a, &cache.Served{}) })
	}
	wg.Wait()
	if most != 2 {
		t.Errorf("at most %d lookups ran at once, want 2", most)
	}
}

// issueOnNewConn has a records c issued for prod to a client on a
// connection of its own, as the first request of that connection.
func issueOnNewConn(a *Audit, c *cache.Served) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	r := httptest.NewRequest(http.MethodGet, "/v1/credentials/prod", nil)
	r = r.WithContext(a.ConnContext(context.Background(), c1))
	a.issued(r, "prod", c)
}

// Clients with nothing pending are forgotten when maxStreams are held, so
// single requests of many processes (one aws command each) do not pile up
// between flushes.
func TestAudit_BoundsClients(t *testing.T) {
	l := audit.New(&memLog{}, audit.Config{})
	defer l.Close()
	a := NewAudit(l, AuditConfig{LookupRate: 1e6, LookupRateBurst: 1e6})
	pid := 0
	a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
		pid++
		return peer.Process{PID: pid, UID: 1000, Exe: "/usr/bin/aws"}, nil
	}
	for range 3 * maxStreams {
		issueOnNewConn(a, &cache.Served{})
	}
	a.mu.Lock()
	n := len(a.streams)
	a.mu.Unlock()
	if n > maxStreams {
		t.Errorf("%d clients held, want at most %d", n, maxStreams)
	}
}

// A client whose refusals without the token wait to be counted is kept
// when maxStreams are held: forgetting it would lose them.
func TestAudit_BoundsKeepPendingRefusals(t *testing.T) {
	out := &memLog{}
	l := audit.New(out, audit.Config{})
	a := NewAudit(l, AuditConfig{LookupRate: 1e6, LookupRateBurst: 1e6})
	pid := 0
	a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
		pid++
		return peer.Process{PID: pid, UID: 1000, Exe: "/usr/bin/curl"}, nil
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	r := httptest.NewRequest(http.MethodGet, "/v1/credentials/prod", nil)
	r = r.WithContext(a.ConnContext(context.Background(), c1))
	for range 3 {
		a.refused(r, "prod", http.StatusUnauthorized, "MissingToken", false)
	}
	for range maxStreams {
		issueOnNewConn(a, &cache.Served{})
	}
	a.Flush()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	refused := 0
	dec := json.NewDecoder(&out.b)
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		if e.Kind == audit.Refused {
			refused += e.N()
		}
	}
	if refused != 3 {
		t.Errorf("the audit log holds %d refusals, want 3", refused)
	}
}

// A connection whose lookup found its socket but was allowed no search
// is written with the socket's owner: "client not looked up" lines still
// say whose it was. Where the lookup knows no owner (macOS, where lsof
// finds the socket and the process at once), or none was made (the rate
// spent), the line names none.
func TestAudit_NotLookedUpKeepsUID(t *testing.T) {
	for _, tt := range []struct {
		name   string
		uid    int  // the socket's owner that the lookup returns
		rateOK bool // a lookup is allowed
		want   *audit.Client
	}{
		{"uid known", 1001, true, &audit.Client{UID: 1001}},
		{"root", 0, true, &audit.Client{UID: 0}},
		{"uid unknown", -1, true, nil},
		{"rate spent", 1001, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &memLog{}
			l := audit.New(out, audit.Config{})
			cfg := AuditConfig{LookupShare: 1e-9, LookupBurst: time.Nanosecond}
			if !tt.rateOK {
				cfg.LookupRate, cfg.LookupRateBurst = 1e-9, 1e-9
			}
			a := NewAudit(l, cfg)
			a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
				return peer.Process{UID: tt.uid}, peer.ErrNotSearched
			}
			issueOnNewConn(a, &cache.Served{})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			var e audit.Event
			if err := json.Unmarshal(out.b.Bytes(), &e); err != nil {
				t.Fatalf("audit line %q: %v", out.b.Bytes(), err)
			}
			if e.Note != notLookedUp || (e.Client == nil) != (tt.want == nil) || (e.Client != nil && *e.Client != *tt.want) {
				t.Errorf("issued after a lookup that returned uid %d, ErrNotSearched = client %+v, note %q; want client %+v, note %q",
					tt.uid, e.Client, e.Note, tt.want, notLookedUp)
			}
		})
	}
}
