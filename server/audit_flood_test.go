package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/peer"
)

// refuseOnNewConn has a record a refusal of a request without the token,
// the first request of a connection of its own.
func refuseOnNewConn(a *Audit) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	r := httptest.NewRequest(http.MethodGet, "/v1/credentials/prod", nil)
	r = r.WithContext(a.ConnContext(context.Background(), c1))
	a.refused(r, "prod", http.StatusForbidden, "InvalidToken", false)
}

// A flood of connections without the token (any local user can connect
// to loopback, and a web page can make a browser do it) does not spend the
// lookups of the requests that carry it: the next process to be served is
// still named. The flood took the whole budget, and the credentials
// served next were put down to no one ("client not looked up").
func TestAudit_TokenlessFloodSparesClients(t *testing.T) {
	clock := clockwork.NewFakeClock()
	out := &memLog{}
	l := audit.New(out, audit.Config{Clock: clock, Buffer: 1 << 14})
	a := NewAudit(l, AuditConfig{Clock: clock})
	client := peer.Process{PID: 666, UID: 65534, Exe: "/usr/bin/python3"}
	a.lookup = func(local, remote net.Addr, s peer.Search) (peer.Process, error) {
		if !s.Allow() {
			return peer.Process{UID: client.UID}, peer.ErrNotSearched
		}
		s.Spent(2 * time.Millisecond) // a new process each time: a search
		p := client
		p.Searched = true
		return p, nil
	}
	for range 5000 {
		refuseOnNewConn(a)
	}
	client = peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/aws"}
	issueOnNewConn(a, &cache.Served{})
	a.Flush()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var issued []audit.Event
	dec := json.NewDecoder(&out.b)
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		if e.Kind == audit.Issued {
			issued = append(issued, e)
		}
	}
	if len(issued) != 1 || issued[0].Client == nil || issued[0].Client.PID != 42 {
		t.Errorf("after 5000 connections without the token, the issuance = %+v, want it put down to pid 42", issued)
	}
}
