// Package peer finds the process at the other end of a loopback TCP
// connection: its pid, executable, user and mount namespace.
//
// A lookup costs milliseconds, not microseconds: on Linux it reads
// /proc/net/tcp and tcp6 (tens to hundreds of microseconds, growing with the
// number of sockets on the machine), then reads the fd links of the
// processes it can see until one holds the client's socket (a millisecond
// or more, growing with the number of processes and open files). On macOS
// it runs lsof (tens of milliseconds). So a server resolves its client off
// the request path, and limits the searches of every process with a
// Search. A Finder remembers the owners of the sockets it has seen and the
// last processes it found, which are looked at first, and runs one search
// at a time: the connections of a burst from a new client wait for the
// search that finds it, then find it among the processes found last.
//
// A lookup finds the client only while it holds its socket. One that closes
// the connection as soon as it has read the response (Connection: close)
// may be gone before a lookup made after the response has finished; that
// lookup returns ErrNotFound, or ErrNoProcess with the uid. A server that
// must name every client looks it up before writing the response.
package peer

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Process is the client at the other end of a connection.
type Process struct {
	// PID is the process holding the client's socket; 0 when it was not
	// found (see ErrNoProcess). When several processes share the socket
	// (a fork after connect), one of them.
	PID int
	// UID is the process's effective user id or, when the process was not
	// found, the owner of the client's socket. Always set on success and
	// with ErrNoProcess; with ErrNotSearched, -1 where the socket is found
	// with its process alone (macOS: lsof).
	UID int
	// Exe is the path of the process's executable; "" when unreadable.
	Exe string
	// MountNS is the process's mount namespace ("mnt:[4026532512]") when
	// it is not this process's: a container's (docker run --network
	// host, a toolbox), where Exe is a path in the container's files, not
	// the host's. "" when it is this process's, or cannot be read.
	MountNS string
	// Searched is whether the lookup read the fd directories of every
	// process, which costs milliseconds, rather than finding the client
	// among the processes it found last (their remembered sockets, or
	// their fds read again), which costs tens to hundreds of microseconds.
	// Set with ErrNoProcess too; on macOS every lookup is a search (lsof).
	Searched bool
}

var (
	// ErrNotFound means that no TCP socket has the connection's addresses
	// swapped: the client has closed the connection, or is not on this
	// host (or in this network namespace).
	ErrNotFound = errors.New("no local socket is the other end of the connection")
	// ErrNoProcess means that the client's socket was found, and with it
	// its owner's uid (Process.UID), but not the process holding it:
	// usually a process of another user, whose files this one cannot read,
	// or one that has just closed the socket.
	ErrNoProcess = errors.New("process holding the socket not found")
	// ErrNotSearched means that the client is not among the processes
	// found last, and the lookup's Search did not allow a search of every
	// process. Process.UID is the socket's owner, or -1 when unknown (see
	// Process.UID).
	ErrNotSearched = errors.New("client not among the processes found last, and no search allowed")
)

// Search limits the lookups that search every process: Allow is asked
// before each, and Spent is told what each cost: the CPU time of the
// thread that ran it on Linux, elsewhere its wall time (lsof's run).
// Its methods may be called concurrently.
type Search interface {
	Allow() bool
	Spent(time.Duration)
}

// Config says where a Finder looks; the zero value looks at the running
// system.
type Config struct {
	// Proc is a /proc tree to read; nil means the system's: /proc on
	// Linux, lsof on macOS. Tests pass a fake tree.
	Proc fs.FS
	// Size is how many sockets' owners the Finder remembers; 0 means 256.
	Size int
}

// Finder looks up the clients of loopback connections and remembers them
// by the client's address and socket inode, so a connection looked up
// twice costs one read of the socket table. It is safe for concurrent use.
type Finder struct {
	proc fs.FS
	size int

	mu     sync.Mutex
	owners map[key]Process
	order  []key // insertion order, oldest first, for eviction
	recent []int // pids last found, most recent first
	procs  map[int]described
	// fds holds what was read of each recent process's fds: a burst of
	// connections from one client costs one fd link each once its fds are
	// read, a client that reconnects has its former socket fds read
	// first, and a new client beside one holding thousands of fds has only
	// that one's former sockets and new fds read (see findRecent).
	fds map[int]*fdTable
	// diag asks the kernel for the socket (Linux sock_diag) rather than
	// reading proc's socket tables; set for the running system.
	diag bool
	// searching is held by the search of every process under way.
	searching sync.Mutex
}

// findSocket finds the socket from client to server, through sock_diag
// when it can (its cost does not grow with the sockets the machine holds),
// else in proc's socket tables.
func (f *Finder) findSocket(client, server netip.AddrPort) (socket, error) {
	if f.diag {
		s, err := diagSocket(client, server)
		if err == nil || errors.Is(err, ErrNotFound) {
			return s, err
		}
	}
	return findSocket(f.proc, client, server)
}

// described is a process as describe read it, and when it started.
type described struct {
	p     Process
	start uint64
}

// key names one socket: the client's address and its inode, so a port
// reused by a later connection is not mistaken for the earlier one.
type key struct {
	client netip.AddrPort
	inode  uint64
}

const maxRecent = 8

// New returns a Finder that looks where cfg says.
func New(cfg Config) *Finder {
	diag := cfg.Proc == nil
	if cfg.Proc == nil {
		cfg.Proc = systemProc()
	}
	if cfg.Size <= 0 {
		cfg.Size = 256
	}
	return &Finder{proc: cfg.Proc, diag: diag, size: cfg.Size, owners: make(map[key]Process), procs: make(map[int]described),
		fds: make(map[int]*fdTable)}
}

// Lookup finds the client of the accepted connection whose local and
// remote addresses are given, without remembering it.
func Lookup(local, remote net.Addr) (Process, error) {
	return New(Config{}).Lookup(local, remote)
}

// Lookup finds the client of the accepted connection whose local and
// remote addresses are given (conn.LocalAddr(), conn.RemoteAddr()), with
// no limit on searches. It returns ErrNotFound when there is no such
// socket, and the owner's uid with ErrNoProcess when the process holding
// it cannot be found.
func (f *Finder) Lookup(local, remote net.Addr) (Process, error) {
	return f.LookupLimited(local, remote, nil)
}

// LookupLimited is Lookup with searches of every process limited by s (nil:
// not limited): one that s does not allow returns ErrNotSearched.
func (f *Finder) LookupLimited(local, remote net.Addr, s Search) (Process, error) {
	l, err := addrPort(local)
	if err != nil {
		return Process{}, fmt.Errorf("local address: %w", err)
	}
	r, err := addrPort(remote)
	if err != nil {
		return Process{}, fmt.Errorf("remote address: %w", err)
	}
	if f.proc == nil {
		var p Process
		if !searchIf(s, func() { p, err = systemLookup(l, r) }) {
			return Process{UID: -1}, ErrNotSearched
		}
		p.Searched = true
		return p, err
	}
	sock, err := f.findSocket(r, l)
	if err != nil {
		return Process{}, err
	}
	if sock.inode == 0 {
		return Process{UID: sock.uid}, fmt.Errorf("socket %v of uid %d is closing: %w", r, sock.uid, ErrNoProcess)
	}
	k := key{r, sock.inode}
	f.mu.Lock()
	p, ok := f.owners[k]
	hints := slices.Clone(f.recent)
	f.mu.Unlock()
	if ok {
		return p, nil
	}
	pid, rest := f.findRecent(sock, hints)
	searched := false
	if pid == 0 {
		var more []unread
		pid, searched, more, err = f.search(sock, hints, s)
		// Only now, with no search allowed or none that found it, the fds
		// of recent processes that held no socket when last read: the
		// client may be one of them with a new socket on such an fd (a
		// file closed since), but most often it is a new process, which
		// the search finds first.
		if pid == 0 {
			if p := f.readRest(sock, append(rest, more...)); p != 0 {
				pid, err = p, nil
			}
		}
	}
	if err != nil {
		return Process{UID: sock.uid, Searched: searched}, fmt.Errorf("socket %v of uid %d: %w", r, sock.uid, err)
	}
	p = f.describe(pid, sock.uid)
	f.remember(k, p)
	p.Searched = searched
	return p, nil
}

// search finds the process holding sock among all but the pids in hints
// (looked at already), one search at a time. A lookup that waited for
// another's search first looks at the processes that one found, as
// findRecent does; the fds it left unread of them are returned with
// ErrNotSearched or the search's error.
func (f *Finder) search(sock socket, hints []int, s Search) (pid int, searched bool, rest []unread, err error) {
	f.searching.Lock()
	defer f.searching.Unlock()
	f.mu.Lock()
	found := slices.DeleteFunc(slices.Clone(f.recent), func(pid int) bool { return slices.Contains(hints, pid) })
	f.mu.Unlock()
	if pid, rest = f.findRecent(sock, found); pid != 0 {
		return pid, false, nil, nil
	}
	skip := append(slices.Clone(hints), found...)
	if !searchIf(s, func() { pid, err = findHolder(f.proc, sock, skip) }) {
		return 0, false, rest, ErrNotSearched
	}
	if err == nil {
		f.mu.Lock()
		f.addRecent(pid)
		f.mu.Unlock()
	}
	return pid, true, rest, err
}

// searchIf runs search, a search of every process, when s (nil: no
// limit) allows one, charges s what it cost, and reports whether it ran.
func searchIf(s Search, search func()) bool {
	if s == nil {
		search()
		return true
	}
	if !s.Allow() {
		return false
	}
	s.Spent(cpuTime(search))
	return true
}

// findRecent returns the recent process that holds sock, 0 when none
// does: first as their fds were last read, then reading them again, but
// not those of a process of another user than the socket's (each
// connection of another user, who may be refused, but is looked up, cost
// that). Of a process's fds it reads again only those that held sockets
// when last read and those opened since (listed now, not then): a client
// that reconnects gets the number of an fd it closed, one that opens many
// connections at once new numbers. The others, which held files, it
// returns unread: reading them all costs a readlink each (20 ms for 3,000
// fds, an IDE's), outside the search budget, and a new client, whom only
// a search finds, would pay that for each recent process.
func (f *Finder) findRecent(sock socket, hints []int) (pid int, rest []unread) {
	inode := sock.inode
	target := socketLink(inode)
	for _, pid := range hints {
		f.mu.Lock()
		fd, ok := f.fds[pid].holder(inode)
		f.mu.Unlock()
		// The fd may have been closed, or reused, since.
		if ok && readLink(f.proc, fdPath(pid, fd)) == target {
			return pid, nil
		}
	}
	for _, pid := range hints {
		f.mu.Lock()
		d, described := f.procs[pid]
		f.mu.Unlock()
		if described && d.p.UID != sock.uid {
			continue
		}
		found, left := f.scanRecent(pid, inode)
		if found {
			return pid, nil
		}
		if left != nil {
			rest = append(rest, *left)
		}
	}
	return 0, rest
}

// scanRecent reads again the fds of pid that findRecent reads, until one
// is linked to the socket inode, and returns whether one was, or else
// what it left unread. Linux 6.2 and later give the number of a
// process's fds as the size of its fd directory: when that is the number
// known, listing them (5 ms for 3,000) is left for later too, and only the
// former sockets are read.
func (f *Finder) scanRecent(pid int, inode uint64) (found bool, left *unread) {
	f.mu.Lock()
	t := f.fds[pid]
	if t == nil && slices.Contains(f.recent, pid) {
		t = newFdTable()
		f.fds[pid] = t
	}
	known := t.size()
	f.mu.Unlock()
	if known > 0 && fdCount(f.proc, pid) == known {
		f.mu.Lock()
		former := t.sockets()
		f.mu.Unlock()
		read, found := readFds(f.proc, pid, former, inode)
		f.note(pid, read)
		if found {
			return true, nil
		}
		return false, &unread{pid: pid, unlisted: true}
	}
	listed, err := listFds(f.proc, pid)
	if err != nil {
		return false, nil
	}
	f.mu.Lock()
	former, fresh, others := t.split(listed)
	f.mu.Unlock()
	read, found := readFds(f.proc, pid, append(former, fresh...), inode)
	f.note(pid, read)
	if found {
		return true, nil
	}
	if len(others) == 0 {
		return false, nil
	}
	return false, &unread{pid: pid, fds: others}
}

// unread is what findRecent left unread of a process's fds: fds, or, when
// unlisted (their number was unchanged), every fd, which readRest lists,
// the former sockets last.
type unread struct {
	pid      int
	fds      []int32
	unlisted bool
}

// readRest reads the fds that findRecent left unread until one is linked
// to sock, and returns its process, 0 when none is. Another lookup may
// have read the client's fd since, and noted the socket there: that fd is
// read first, and an fd noted as a socket since is not skipped.
func (f *Finder) readRest(sock socket, rest []unread) int {
	target := socketLink(sock.inode)
	for _, u := range rest {
		f.mu.Lock()
		fd, ok := f.fds[u.pid].holder(sock.inode)
		f.mu.Unlock()
		if ok && readLink(f.proc, fdPath(u.pid, fd)) == target {
			return u.pid
		}
		fds := u.fds
		if u.unlisted {
			listed, err := listFds(f.proc, u.pid)
			if err != nil {
				continue
			}
			f.mu.Lock()
			former, fresh, others := f.fds[u.pid].split(listed)
			f.mu.Unlock()
			// The former sockets were read, but may be noted since.
			fds = slices.Concat(fresh, others, former)
		}
		read, found := readFds(f.proc, u.pid, fds, sock.inode)
		f.note(u.pid, read)
		if found {
			return u.pid
		}
	}
	return 0
}

// note records what was read of pid's fds, while it is a recent process.
func (f *Finder) note(pid int, read []fdLink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.fds[pid]; t != nil {
		for _, r := range read {
			t.set(r.fd, r.inode)
		}
	}
}

// describe reads what describe does of pid, once per process: a client
// that opens a connection per request is read once, and then only its
// start time, which tells it from a later process with its pid, and its
// executable, which tells it from what it ran before an exec.
func (f *Finder) describe(pid, uid int) Process {
	start, ok := startTime(f.proc, pid)
	if ok {
		exe := readLink(f.proc, strconv.Itoa(pid)+"/exe")
		f.mu.Lock()
		d, hit := f.procs[pid]
		f.mu.Unlock()
		if hit && d.start == start && d.p.Exe == exe {
			return d.p
		}
	}
	p := describe(f.proc, pid, uid)
	if ok {
		f.mu.Lock()
		if len(f.procs) >= f.size {
			clear(f.procs)
		}
		f.procs[pid] = described{p, start}
		f.mu.Unlock()
	}
	return p
}

func (f *Finder) remember(k key, p Process) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.owners[k]; !ok {
		if len(f.order) >= f.size {
			delete(f.owners, f.order[0])
			f.order = f.order[1:]
		}
		f.order = append(f.order, k)
	}
	f.owners[k] = p
	f.addRecent(p.PID)
}

// addRecent makes pid the most recent process found. Call with f.mu.
func (f *Finder) addRecent(pid int) {
	f.recent = slices.DeleteFunc(f.recent, func(p int) bool { return p == pid })
	f.recent = slices.Insert(f.recent, 0, pid)
	if len(f.recent) > maxRecent {
		for _, pid := range f.recent[maxRecent:] {
			delete(f.fds, pid)
		}
		f.recent = f.recent[:maxRecent]
	}
}

// addrPort turns a TCP address into an IPv4 or IPv6 address and port, IPv4
// unmapped.
func addrPort(a net.Addr) (netip.AddrPort, error) {
	if a == nil {
		return netip.AddrPort{}, errors.New("no address")
	}
	var ap netip.AddrPort
	if t, ok := a.(*net.TCPAddr); ok {
		ap = t.AddrPort()
	} else {
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.AddrPort{}, fmt.Errorf("parse %q: %w", a.String(), err)
		}
	}
	if !ap.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("address %q is not an IP and port", a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), nil
}
