package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/peer"
)

// AuditConfig configures an Audit; a zero field takes the default named.
type AuditConfig struct {
	// Lookup finds the process at the other end of a loopback connection,
	// with searches of every process limited by the peer.Search it is
	// given: peer.Finder's LookupLimited. nil names no process.
	Lookup func(local, remote net.Addr, s peer.Search) (peer.Process, error)
	// Clock stamps the lines of repeated requests, arms the flush timer
	// and refills the lookup budget; nil means the real clock.
	Clock clockwork.Clock
	// FlushEvery is how long counts of repeated requests may wait to be
	// written (default 10s); they are written too when their connection
	// closes.
	FlushEvery time.Duration
	// LookupRate is how many connections a second may be looked up
	// (default 100), with LookupRateBurst saved up (default 500). Most
	// find their client among the processes found last, in tens to
	// hundreds of microseconds and about 25 system calls (100 a second is
	// about 1% of a core; the 500 saved up cover a burst of new
	// connections from one client); those that search every process's fds
	// (milliseconds) are limited too, by the CPU time they take: a share
	// of the time passing, LookupShare (default 0.02), with LookupBurst
	// saved up (default 100ms). A connection that comes when the rate is
	// spent, or that would need a search when the CPU time is, is not
	// looked up: its requests are counted, per profile and outcome, with a
	// note that says why. At most Lookups (default 2) run at once; the
	// others wait their turn.
	LookupRate      float64
	LookupRateBurst float64
	LookupShare     float64
	LookupBurst     time.Duration
	Lookups         int
}

// Audit writes every answer of the credentials endpoint to the audit log,
// naming the client: for a loopback connection the local process, looked
// up once, before the connection's first answer (a client may close the
// connection as soon as it has read it); for a request through the relay
// the container token and the container. Requests that are alike (same
// client, profile, credentials and outcome) after the first are counted and
// written as one line, when their connection closes, when the outcome
// changes, or at the latest FlushEvery after the first, so that a cached
// request on a known connection costs a lock and a comparison. It is safe for
// concurrent use; set ConnContext and ConnState on the loopback endpoint's
// http.Server, run Run, and call Flush once the servers have stopped.
type Audit struct {
	log    *audit.Log
	clock  clockwork.Clock
	every  time.Duration
	lookup func(local, remote net.Addr, s peer.Search) (peer.Process, error) // nil: none
	budget *budget
	slots  chan struct{} // one per lookup under way
	due    chan struct{} // holds one when counts wait to be written

	issuedN, refusedN atomic.Uint64
	pendingN          atomic.Int64 // len(pending), read without mu

	mu      sync.Mutex
	pending map[net.Conn]*connState // connections with repeats not written
	anon    map[sig]*count          // requests of clients not looked up
	relays  map[relayKey]*relayStream
}

// NewAudit returns an Audit that writes to l.
func NewAudit(l *audit.Log, cfg AuditConfig) *Audit {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 10 * time.Second
	}
	if cfg.LookupRate <= 0 {
		cfg.LookupRate = 100
	}
	if cfg.LookupRateBurst <= 0 {
		cfg.LookupRateBurst = 500
	}
	if cfg.LookupShare <= 0 {
		cfg.LookupShare = 0.02
	}
	if cfg.LookupBurst <= 0 {
		cfg.LookupBurst = 100 * time.Millisecond
	}
	if cfg.Lookups <= 0 {
		cfg.Lookups = 2
	}
	a := &Audit{log: l, clock: cfg.Clock, every: cfg.FlushEvery, slots: make(chan struct{}, cfg.Lookups), due: make(chan struct{}, 1),
		budget: &budget{clock: cfg.Clock, at: cfg.Clock.Now(), rate: cfg.LookupRate, most: cfg.LookupRateBurst, lookups: cfg.LookupRateBurst,
			share: cfg.LookupShare, burst: cfg.LookupBurst, cpu: cfg.LookupBurst},
		lookup:  cfg.Lookup,
		pending: map[net.Conn]*connState{}, anon: map[sig]*count{}, relays: map[relayKey]*relayStream{}}
	return a
}

// Counts returns how many credentials requests were answered with
// credentials and with an error since the Audit was made.
func (a *Audit) Counts() (issued, refused uint64) { return a.issuedN.Load(), a.refusedN.Load() }

// sig is what makes requests alike.
type sig struct {
	kind    audit.Kind
	profile string
	keyID   string // unmasked; the event masks it
	status  int
	code    string
}

// stream is one client's last line and the requests alike that came
// after it, not yet written.
type stream struct {
	last   sig
	event  audit.Event // the last line written, the template of repeats
	has    bool
	repeat int
	first  time.Time // of the repeats
}

// add takes a request: it counts it as a repeat and returns false, or
// writes the repeats pending and the request's own line and returns true.
// first is the time of the first repeat, read only when one starts.
func (st *stream) add(a *Audit, s sig, e func() audit.Event) (repeated, started bool) {
	if st.has && st.last == s {
		st.repeat++
		if st.repeat == 1 {
			st.first = a.clock.Now()
			return true, true
		}
		return true, false
	}
	st.flush(a)
	st.last, st.event, st.has = s, e(), true
	a.log.Record(st.event)
	return false, false
}

// flush writes the repeats pending as one line.
func (st *stream) flush(a *Audit) {
	if st.repeat == 0 {
		return
	}
	e := st.event
	e.Time, e.Until, e.Count = st.first, a.clock.Now(), st.repeat
	if st.repeat == 1 {
		e.Until, e.Count = time.Time{}, 0
	}
	a.log.Record(e)
	st.repeat = 0
}

// connState is what the Audit knows of one loopback connection.
type connState struct {
	conn          net.Conn
	local, remote net.Addr

	mu     sync.Mutex
	looked bool
	anon   bool          // not looked up: over the lookup budget
	client *audit.Client // nil when not found
	note   string
	st     stream
}

type connKey struct{}

// ConnContext fits http.Server.ConnContext: it attaches the connection's
// record to ctx, without a lookup.
func (a *Audit) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{conn: c, local: c.LocalAddr(), remote: c.RemoteAddr()})
}

// ConnState fits http.Server.ConnState: it writes the repeats pending on
// a connection that closes. It writes them holding a.mu: net/http runs the
// hook of a connection that Shutdown closed after Shutdown has returned,
// so it may run with Flush, which must not return before they are written.
func (a *Audit) ConnState(c net.Conn, s http.ConnState) {
	if (s != http.StateClosed && s != http.StateHijacked) || a.pendingN.Load() == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cs := a.pending[c]
	if cs == nil {
		return
	}
	delete(a.pending, c)
	a.pendingN.Store(int64(len(a.pending)))
	cs.mu.Lock()
	cs.st.flush(a)
	cs.mu.Unlock()
}

// issued records credentials served to a loopback client.
func (a *Audit) issued(r *http.Request, name string, c *cache.Served) {
	a.issuedN.Add(1)
	a.loopback(r, sig{kind: audit.Issued, profile: name, keyID: c.AccessKeyID, status: http.StatusOK}, c)
}

// refused records an error answered to a loopback client, before it is
// written.
func (a *Audit) refused(r *http.Request, name string, status int, code string) {
	a.refusedN.Add(1)
	a.loopback(r, refusal(name, status, code), nil)
}

// refusal is the sig of a refused request for name. A name that cannot be
// a profile's is not kept, so that a client asking for a new one each time
// (random bytes, 5,000 characters) makes one line with a count rather than
// a line each, which would rotate the log's history away; other names are
// cut to maxName bytes.
func refusal(name string, status int, code string) sig {
	if code == codeBadName {
		name = ""
	} else if len(name) > maxName {
		name = strings.ToValidUTF8(name[:maxName], "") + "…"
	}
	return sig{kind: audit.Refused, profile: name, status: status, code: code}
}

// maxName bounds a profile name in the audit log.
const maxName = 128

func (a *Audit) loopback(r *http.Request, s sig, c *cache.Served) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil { // not served by an http.Server with ConnContext
		a.log.Record(event(s, c))
		return
	}
	cs.mu.Lock()
	if !cs.looked {
		a.identify(cs)
	}
	if cs.anon {
		cs.mu.Unlock()
		a.countAnon(s, c)
		return
	}
	_, started := cs.st.add(a, s, func() audit.Event {
		e := event(s, c)
		e.Client, e.Note = cs.client, cs.note
		return e
	})
	cs.mu.Unlock()
	if started {
		a.mu.Lock()
		a.pending[cs.conn] = cs
		a.pendingN.Store(int64(len(a.pending)))
		a.mu.Unlock()
		a.wake()
	}
}

// wake tells Run that counts wait to be written.
func (a *Audit) wake() {
	select {
	case a.due <- struct{}{}:
	default:
	}
}

// event is the line of a request like s.
func event(s sig, c *cache.Served) audit.Event {
	e := audit.Event{Kind: s.kind, Profile: s.profile, Status: s.status, Code: s.code}
	if c != nil {
		e.RoleARN, e.KeyID, e.Expires = c.RoleARN, c.AccessKeyID, c.Expires
	}
	return e
}

// notLookedUp is the note of requests whose client was not looked up.
const notLookedUp = "client not looked up: too many new connections"

// identify looks up the process of cs, if the budget allows. Call with
// cs.mu.
func (a *Audit) identify(cs *connState) {
	cs.looked = true
	if a.lookup == nil {
		return
	}
	if !a.budget.take() {
		cs.anon = true
		return
	}
	a.slots <- struct{}{}
	p, err := a.lookup(cs.local, cs.remote, a.budget)
	<-a.slots
	if errors.Is(err, peer.ErrNotSearched) {
		cs.anon = true
		return
	}
	switch {
	case err == nil:
		cs.client = &audit.Client{PID: p.PID, Exe: p.Exe, UID: p.UID}
		if p.Exe == "" {
			cs.note = "executable unreadable"
		}
	case errors.Is(err, peer.ErrNoProcess):
		cs.client = &audit.Client{UID: p.UID}
		cs.note = fmt.Sprintf("process of uid %d not found", p.UID)
	case errors.Is(err, peer.ErrNotFound):
		cs.note = "client not found: it had closed the connection"
	default:
		cs.note = "client lookup failed: " + err.Error()
	}
}

// count is requests alike from clients not looked up.
type count struct {
	event audit.Event
	n     int
}

func (a *Audit) countAnon(s sig, c *cache.Served) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.anon[s]; n != nil {
		n.n++
		return
	}
	e := event(s, c)
	e.Time, e.Note = a.clock.Now(), notLookedUp
	a.anon[s] = &count{event: e, n: 1}
	a.wake()
}

// relayKey names the client of a relay request: its token and address.
type relayKey struct {
	token, ip string
}

type relayStream struct {
	mu        sync.Mutex
	container *audit.Container
	st        stream
	used      bool // since the last flush
}

// RelayClient is who a request through the relay came from.
type RelayClient struct {
	TokenID, Label, ContainerID, IP string
}

// relayed records the answer to a request through the relay.
func (a *Audit) relayed(who RelayClient, s sig, c *cache.Served) {
	if s.kind == audit.Issued {
		a.issuedN.Add(1)
	} else {
		a.refusedN.Add(1)
	}
	k := relayKey{who.TokenID, who.IP}
	a.mu.Lock()
	rs := a.relays[k]
	if rs == nil {
		rs = &relayStream{}
		a.relays[k] = rs
	}
	a.mu.Unlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.used = true
	if c := rs.container; c == nil || c.ID != who.ContainerID || c.Label != who.Label {
		rs.st.flush(a)
		rs.st.has = false
		rs.container = &audit.Container{ID: who.ContainerID, Label: who.Label, IP: who.IP}
	}
	if _, started := rs.st.add(a, s, func() audit.Event {
		e := event(s, c)
		e.Container = rs.container
		return e
	}); started {
		a.wake()
	}
}

// Run writes the counts of repeated requests FlushEvery after the first of
// them, until ctx ends. While nothing waits to be written it sleeps.
func (a *Audit) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.due:
		}
		t := a.clock.NewTimer(a.every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
			a.Flush()
		}
	}
}

// Flush writes every count of repeated requests now.
func (a *Audit) Flush() {
	a.mu.Lock()
	conns := make([]*connState, 0, len(a.pending))
	for c, cs := range a.pending {
		conns = append(conns, cs)
		delete(a.pending, c)
	}
	a.pendingN.Store(0)
	anon := a.anon
	a.anon = map[sig]*count{}
	relays := make([]*relayStream, 0, len(a.relays))
	for k, rs := range a.relays {
		relays = append(relays, rs)
		rs.mu.Lock()
		if !rs.used && rs.st.repeat == 0 {
			delete(a.relays, k) // idle since the last flush
		}
		rs.used = false
		rs.mu.Unlock()
	}
	a.mu.Unlock()
	for _, cs := range conns {
		cs.mu.Lock()
		cs.st.flush(a)
		cs.mu.Unlock()
	}
	for _, rs := range relays {
		rs.mu.Lock()
		rs.st.flush(a)
		rs.mu.Unlock()
	}
	now := a.clock.Now()
	for _, n := range anon {
		e := n.event
		if n.n > 1 {
			e.Count, e.Until = n.n, now
		}
		a.log.Record(e)
	}
}

// budget limits lookups: a bucket of lookups, filled at rate a second up
// to most, from which each takes one; and a bucket of CPU time, filled at
// share of the time passing up to burst, from which each search of every
// process takes what it cost. A search may start while it is not empty.
// It is the peer.Search of every lookup.
type budget struct {
	mu    sync.Mutex
	clock clockwork.Clock
	at    time.Time

	rate, most, lookups float64
	share               float64
	burst, cpu          time.Duration
}

var _ peer.Search = (*budget)(nil)

// fill adds what the time since the last fill brings. Call with b.mu.
func (b *budget) fill() {
	now := b.clock.Now()
	if d := now.Sub(b.at); d > 0 {
		b.lookups = min(b.lookups+d.Seconds()*b.rate, b.most)
		b.cpu = min(b.cpu+time.Duration(float64(d)*b.share), b.burst)
		b.at = now
	}
}

// take takes one lookup, if one is left.
func (b *budget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fill()
	if b.lookups < 1 {
		return false
	}
	b.lookups--
	return true
}

// Allow reports whether CPU time is left for a search.
func (b *budget) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fill()
	return b.cpu > 0
}

// Spent takes a search's CPU time.
func (b *budget) Spent(d time.Duration) {
	b.mu.Lock()
	b.cpu -= d
	b.mu.Unlock()
}
