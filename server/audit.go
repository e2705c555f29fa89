package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/peer"
	"github.com/brokerd/brokerd/profile"
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
	// written (default 10s); Flush writes them at once.
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
	// note that says why. Connections whose first request lacks the token
	// draw on budgets of their own, a quarter of these, so that a flood of
	// them (any local user can connect to loopback) does not spend the
	// lookups of the clients served. At most Lookups (default 2) run at
	// once; the others wait their turn.
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
// the container token and the container. Requests from one client that are
// alike (same profile, credentials and outcome) after the first are
// counted, over all its connections, and written as one line when the
// outcome changes or at the latest FlushEvery after the first, so that a
// cached request costs two locks and a comparison, and a client that opens
// a connection per request writes no line a request. It is safe for
// concurrent use; set ConnContext on the loopback endpoint's http.Server,
// run Run, and call Flush once the servers have stopped.
type Audit struct {
	log    *audit.Log
	clock  clockwork.Clock
	every  time.Duration
	lookup func(local, remote net.Addr, s peer.Search) (peer.Process, error) // nil: none
	// budget limits the lookups of connections whose first request has
	// the token, anon those of the others.
	budget, anon *budget
	slots        chan struct{} // one per lookup under way
	due          chan struct{} // holds one when lines wait to be written

	issuedN, refusedN atomic.Uint64

	mu      sync.Mutex
	streams map[who]*clientStream
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
	return &Audit{log: l, clock: cfg.Clock, every: cfg.FlushEvery, slots: make(chan struct{}, cfg.Lookups), due: make(chan struct{}, 1),
		budget: newBudget(cfg.Clock, cfg.LookupRate, cfg.LookupRateBurst, cfg.LookupShare, cfg.LookupBurst),
		anon:   newBudget(cfg.Clock, cfg.LookupRate/4, cfg.LookupRateBurst/4, cfg.LookupShare/4, cfg.LookupBurst/4),
		lookup: cfg.Lookup, streams: map[who]*clientStream{}}
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
	// anon marks a refusal of a request without the token, counted apart
	// (clientStream.anon).
	anon bool
}

// who names a client: a loopback process (or why it has none), or a
// container token at an address.
type who struct {
	pid, uid  int
	exe, note string
	token, ip string
}

// clientStream is one client's last line and the requests alike that came
// after it, not yet written.
type clientStream struct {
	mu        sync.Mutex
	client    *audit.Client    // of a loopback client; nil when not found
	container *audit.Container // of a relay client
	note      string
	last      sig
	event     audit.Event // the last line written, the template of repeats
	has       bool
	repeat    int
	first     time.Time // of the repeats
	used      bool      // since the last flush
	gone      bool      // dropped from Audit.streams: find it again
	// anon counts the refusals of requests without the token by their
	// sig, whatever their order: alternating two of them (no token, a
	// wrong one) would otherwise end a run, and write a line, each time.
	// The first of each is written at once, the rest as one line at each
	// flush, in the order first seen. Such a sig has no profile name, so
	// there are few.
	anon []*repeats
}

// repeats are requests like sig counted since the line of the first.
type repeats struct {
	sig   sig
	event audit.Event
	n     int
	first time.Time
}

// add records a request like s: it counts it as a repeat, or writes the
// repeats pending and the request's own line. It reports whether Run must
// write the stream's lines later. Call with st.mu.
func (st *clientStream) add(a *Audit, s sig, c *cache.Served) (due bool) {
	st.used = true
	if s.anon {
		return st.addAnon(a, s)
	}
	if st.has && st.last == s {
		st.repeat++
		if st.repeat == 1 {
			st.first = a.clock.Now()
			return true
		}
		return false
	}
	st.flush(a)
	e := event(s, c)
	e.Client, e.Container, e.Note = st.client, st.container, st.note
	st.last, st.event, st.has = s, e, true
	a.log.Record(e)
	return false
}

// addAnon records a refusal of a request without the token. Call with
// st.mu.
func (st *clientStream) addAnon(a *Audit, s sig) (due bool) {
	for _, r := range st.anon {
		if r.sig != s {
			continue
		}
		r.n++
		if r.n == 1 {
			r.first = a.clock.Now()
			return true
		}
		return false
	}
	e := event(s, nil)
	e.Client, e.Container, e.Note = st.client, st.container, st.note
	st.anon = append(st.anon, &repeats{sig: s, event: e})
	a.log.Record(e)
	return false
}

// flush writes the repeats pending, each sig's as one line. Call with
// st.mu.
func (st *clientStream) flush(a *Audit) {
	for _, r := range st.anon {
		if r.n > 0 {
			a.log.Record(repeated(r.event, r.first, a.clock.Now(), r.n))
			r.n = 0
		}
	}
	if st.repeat == 0 {
		return
	}
	a.log.Record(repeated(st.event, st.first, a.clock.Now(), st.repeat))
	st.repeat = 0
}

// pending reports whether st holds repeats not yet written. Call with
// st.mu.
func (st *clientStream) pending() bool {
	return st.repeat > 0 || slices.ContainsFunc(st.anon, func(r *repeats) bool { return r.n > 0 })
}

// repeated is the line of n requests like e, from first until now.
func repeated(e audit.Event, first, now time.Time, n int) audit.Event {
	e.Time, e.Until, e.Count = first, now, n
	if n == 1 {
		e.Until, e.Count = time.Time{}, 0
	}
	return e
}

// maxStreams bounds the clients an Audit holds between flushes.
const maxStreams = 1024

// stream returns the stream of k, made with init when new. A flush drops
// the streams unused since the last; when maxStreams are held, those with
// no repeats pending go at once (no timer runs for them: an idle daemon
// sleeps).
func (a *Audit) stream(k who, init func(*clientStream)) *clientStream {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.streams[k]
	if st == nil {
		if len(a.streams) >= maxStreams {
			for oldKey, old := range a.streams {
				old.mu.Lock()
				if !old.pending() {
					a.forget(oldKey, old)
				}
				old.mu.Unlock()
			}
		}
		st = &clientStream{}
		init(st)
		a.streams[k] = st
	}
	return st
}

// forget drops the stream of k. Call with a.mu and st.mu.
func (a *Audit) forget(k who, st *clientStream) {
	delete(a.streams, k)
	st.gone = true
}

// lockedStream returns the stream of k locked: *held when it is still
// held, else the one stream returns, kept in *held.
func (a *Audit) lockedStream(k who, held **clientStream, init func(*clientStream)) *clientStream {
	for {
		if *held == nil {
			*held = a.stream(k, init)
		}
		st := *held
		st.mu.Lock()
		if !st.gone {
			return st
		}
		st.mu.Unlock()
		*held = nil
	}
}

// record adds a request like s to st, which it unlocks.
func (a *Audit) record(st *clientStream, s sig, c *cache.Served) {
	due := st.add(a, s, c)
	st.mu.Unlock()
	if due {
		a.wake()
	}
}

// connState is what the Audit knows of one loopback connection.
type connState struct {
	conn net.Conn

	mu     sync.Mutex
	looked bool
	client *audit.Client // nil when not found
	note   string
	stream *clientStream // its client's, once used
}

// who names the client of cs, once looked up.
func (cs *connState) who() who {
	k := who{note: cs.note}
	if cs.client != nil {
		k.pid, k.uid, k.exe = cs.client.PID, cs.client.UID, cs.client.Exe
	}
	return k
}

type connKey struct{}

// ConnContext fits http.Server.ConnContext: it attaches the connection's
// record to ctx, without a lookup.
func (a *Audit) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{conn: c})
}

// seen looks up the client of r's connection now, if not yet done: before
// a fetch that may take seconds, so that a client that gives up meanwhile
// (an SDK's 1–2 s timeout) is still named.
func (a *Audit) seen(r *http.Request) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		return
	}
	cs.mu.Lock()
	if !cs.looked {
		a.identify(cs, a.budget)
	}
	cs.mu.Unlock()
}

// issued records credentials served to a loopback client.
func (a *Audit) issued(r *http.Request, name string, c *cache.Served) {
	a.issuedN.Add(1)
	a.loopback(r, sig{kind: audit.Issued, profile: name, keyID: c.AccessKeyID, status: http.StatusOK}, c, a.budget)
}

// refused records an error answered to a loopback client, before it is
// written.
func (a *Audit) refused(r *http.Request, name string, status int, code string, authorized bool) {
	a.refusedN.Add(1)
	b := a.budget
	if !authorized {
		b = a.anon
	}
	a.loopback(r, refusal(name, status, code, authorized), nil, b)
}

// refusal is the sig of a refused request for name. Only a request that
// carried the token (authorized) keeps the name, and only a name that can
// be a profile's: a client without the token, or asking for a new
// impossible name each time (random bytes, 5,000 characters), makes one
// line with a count rather than a line each, which would rotate the log's
// history away; and no line holds control characters.
func refusal(name string, status int, code string, authorized bool) sig {
	if !authorized || code == codeBadName || profile.CheckName(name) != nil {
		name = ""
	}
	return sig{kind: audit.Refused, profile: name, status: status, code: code, anon: !authorized}
}

// loopback records a request like s from r's client, looked up, when not
// yet, within b.
func (a *Audit) loopback(r *http.Request, s sig, c *cache.Served, b *budget) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil { // not served by an http.Server with ConnContext
		a.log.Record(event(s, c))
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !cs.looked {
		a.identify(cs, b)
	}
	st := a.lockedStream(cs.who(), &cs.stream, func(st *clientStream) { st.client, st.note = cs.client, cs.note })
	a.record(st, s, c)
}

// wake tells Run that lines wait to be written.
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

// identify looks up the process of cs, if b allows. Call with cs.mu.
func (a *Audit) identify(cs *connState, b *budget) {
	cs.looked = true
	if a.lookup == nil {
		return
	}
	if !b.take() {
		cs.note = notLookedUp
		return
	}
	a.slots <- struct{}{}
	p, err := a.lookup(cs.conn.LocalAddr(), cs.conn.RemoteAddr(), b)
	<-a.slots
	switch {
	case errors.Is(err, peer.ErrNotSearched):
		cs.note = notLookedUp
		if p.UID >= 0 { // the socket's owner, found before the search
			cs.client = &audit.Client{UID: p.UID}
		}
	case err == nil:
		cs.client = &audit.Client{PID: p.PID, Exe: p.Exe, UID: p.UID, MountNS: p.MountNS}
		if p.Exe == "" {
			cs.note = "executable unreadable"
		}
	case errors.Is(err, peer.ErrNoProcess):
		cs.client = &audit.Client{UID: p.UID}
		cs.note = "process not found"
	case errors.Is(err, peer.ErrNotFound):
		cs.note = "client not found: it had closed the connection"
	default:
		cs.note = "client lookup failed: " + err.Error()
	}
}

// RelayClient is who a request through the relay came from.
type RelayClient struct {
	TokenID, Label, ContainerID, IP string
}

// relayed records the answer to a request through the relay.
func (a *Audit) relayed(rc RelayClient, s sig, c *cache.Served) {
	if s.kind == audit.Issued {
		a.issuedN.Add(1)
	} else {
		a.refusedN.Add(1)
	}
	var held *clientStream
	st := a.lockedStream(who{token: rc.TokenID, ip: rc.IP}, &held, func(*clientStream) {})
	if ct := st.container; ct == nil || ct.ID != rc.ContainerID || ct.Label != rc.Label {
		st.flush(a)
		st.has, st.anon = false, nil // their lines name the container before
		st.container = &audit.Container{ID: rc.ContainerID, Label: rc.Label, IP: rc.IP}
	}
	a.record(st, s, c)
}

// Run writes the counts of repeated requests FlushEvery after the first of
// them, until ctx ends. While nothing waits it sleeps.
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

// Flush writes every count of repeated requests now, forgets the clients
// unused since the last flush, and returns how many it keeps.
func (a *Audit) Flush() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, st := range a.streams {
		st.mu.Lock()
		st.flush(a)
		if !st.used {
			a.forget(k, st)
		}
		st.used = false
		st.mu.Unlock()
	}
	return len(a.streams)
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

// newBudget returns a budget of rate lookups a second, most saved up, and
// share of the time in CPU time for searches, burst saved up; both full.
func newBudget(clock clockwork.Clock, rate, most, share float64, burst time.Duration) *budget {
	return &budget{clock: clock, at: clock.Now(), rate: rate, most: most, lookups: most, share: share, burst: burst, cpu: burst}
}

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
