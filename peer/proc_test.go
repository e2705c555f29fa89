package peer_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/brokerd/brokerd/peer"
)

// The fake /proc below holds, besides the daemon (pid 10, listening on
// 127.0.0.1:8080 and [::1]:8080), clients on these ports:
//
//	54321 pid 42 (aws, uid 1000)              54324 pid 43 over IPv6 (::1)
//	54322 uid 1001, whose pid 77 is unreadable 54325 pid 42, IPv4 mapped in tcp6
//	54323 uid 1000, closing (inode 0)
//
// Addresses are written as a little-endian kernel writes them.

const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 100 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 101 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 200 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D432 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 300 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:D433 0100007F:1F90 06 00000000:00000000 03:00001770 00000000  1000        0 0 3 0000000000000000
`

const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:D434 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 400 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF00000100007F:D435 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 500 1 0000000000000000 20 4 30 10 -1
`

func fakeProc() fstest.MapFS {
	link := func(to string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(to), Mode: fs.ModeSymlink} }
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"net/tcp":      file(tcp),
		"net/tcp6":     file(tcp6),
		"self":         link("10"),
		"1/fd/0":       link("/dev/null"),
		"10/exe":       link("/usr/bin/brokerd"),
		"10/fd/3":      link("socket:[100]"),
		"10/fd/4":      link("socket:[101]"),
		"42/exe":       link("/usr/bin/aws"),
		"42/status":    file("Name:\taws\nUmask:\t0022\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"),
		"42/stat":      file(stat(42, "aws", 5000)),
		"42/fd/0":      link("/dev/null"),
		"42/fd/5":      link("socket:[200]"),
		"42/fd/6":      link("socket:[500]"),
		"43/exe":       link("/usr/bin/python3.11"),
		"43/status":    file("Name:\tpython3\nUid:\t1000\t1000\t1000\t1000\n"),
		"43/fd/3":      link("socket:[400]"),
		"77/exe":       link("/usr/bin/curl"),
		"77/fd/3":      link("socket:[300]"),
		"77/status":    file("Uid:\t1001\t1001\t1001\t1001\n"),
		"notapid/fd/3": link("socket:[200]"),
	}
}

// stat is a /proc/PID/stat line of a process started at start ticks.
func stat(pid int, comm string, start int) string {
	return fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 1000 100 18446744073709551615\n", pid, comm, pid, pid, start)
}

// proc wraps a fake /proc: it refuses what a process of another user
// would be refused (pid 77's fds) and counts listings of the process list
// and of fd directories, and reads of pid 42's fd links and listings of
// its fds. With fdCount, an fd directory's size is its number of fds, as
// in Linux 6.2 and later; else 0, as before.
type proc struct {
	fstest.MapFS
	listings, fdListings, links42, fdListings42 atomic.Int32
	fdCount                                     bool
	// listing42, when set, runs once as pid 42's fds are next listed.
	listing42 func()
}

func (p *proc) Stat(name string) (fs.FileInfo, error) {
	fi, err := p.MapFS.Stat(name)
	if err != nil || !p.fdCount || !strings.HasSuffix(name, "/fd") {
		return fi, err
	}
	ents, err := p.MapFS.ReadDir(name)
	if err != nil {
		return nil, err
	}
	return sized{fi, int64(len(ents))}, nil
}

// sized is a FileInfo with another size.
type sized struct {
	fs.FileInfo
	size int64
}

func (s sized) Size() int64 { return s.size }

var (
	_ fs.ReadLinkFS = (*proc)(nil)
	_ fs.ReadDirFS  = (*proc)(nil)
)

func (p *proc) Open(name string) (fs.File, error) {
	if strings.HasPrefix(name, "77/fd") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return p.MapFS.Open(name)
}

func (p *proc) ReadDir(name string) ([]fs.DirEntry, error) {
	switch {
	case name == ".":
		p.listings.Add(1)
	case strings.HasPrefix(name, "77/fd"):
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	case strings.HasSuffix(name, "/fd"):
		p.fdListings.Add(1)
		if name == "42/fd" {
			p.fdListings42.Add(1)
			if hook := p.listing42; hook != nil {
				p.listing42 = nil
				hook()
			}
		}
	}
	return p.MapFS.ReadDir(name)
}

func (p *proc) ReadLink(name string) (string, error) {
	if strings.HasPrefix(name, "77/fd") {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrPermission}
	}
	if strings.HasPrefix(name, "42/fd/") {
		p.links42.Add(1)
	}
	return p.MapFS.ReadLink(name)
}

func littleEndian(t testing.TB) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fake socket tables are written as a little-endian kernel writes them")
	}
}

// newFinder returns a Finder over a fresh fake /proc that remembers size
// sockets (0: the default), and that /proc.
func newFinder(t *testing.T, size int) (*peer.Finder, *proc) {
	t.Helper()
	littleEndian(t)
	p := &proc{MapFS: fakeProc()}
	return peer.New(peer.Config{Proc: p, Size: size}), p
}

func tcpAddr(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestFinder_Lookup(t *testing.T) {
	littleEndian(t)
	tests := []struct {
		name          string
		local, remote string
		want          peer.Process
		err           error
	}{
		{"ipv4", "127.0.0.1:8080", "127.0.0.1:54321", peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/aws", Searched: true}, nil},
		{"ipv6", "[::1]:8080", "[::1]:54324", peer.Process{PID: 43, UID: 1000, Exe: "/usr/bin/python3.11", Searched: true}, nil},
		{"ipv4 in tcp6", "127.0.0.1:8080", "127.0.0.1:54325", peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/aws", Searched: true}, nil},
		{"ipv4 mapped", "[::ffff:127.0.0.1]:8080", "[::ffff:127.0.0.1]:54325", peer.Process{PID: 42, UID: 1000, Exe: "/usr/bin/aws", Searched: true}, nil},
		{"another user", "127.0.0.1:8080", "127.0.0.1:54322", peer.Process{UID: 1001, Searched: true}, peer.ErrNoProcess},
		{"closing", "127.0.0.1:8080", "127.0.0.1:54323", peer.Process{UID: 1000}, peer.ErrNoProcess},
		{"no socket", "127.0.0.1:8080", "127.0.0.1:60000", peer.Process{}, peer.ErrNotFound},
		{"other server", "127.0.0.1:9090", "127.0.0.1:54321", peer.Process{}, peer.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := peer.New(peer.Config{Proc: &proc{MapFS: fakeProc()}})
			got, err := f.Lookup(tcpAddr(tt.local), tcpAddr(tt.remote))
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("Lookup(%s, %s) = %+v, %v; want %+v, %v", tt.local, tt.remote, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestFinder_LookupBadInput(t *testing.T) {
	f := peer.New(peer.Config{Proc: &proc{MapFS: fakeProc()}})
	unix := &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}
	for _, a := range [][2]net.Addr{{nil, tcpAddr("127.0.0.1:1")}, {tcpAddr("127.0.0.1:1"), unix}} {
		if _, err := f.Lookup(a[0], a[1]); err == nil || errors.Is(err, peer.ErrNotFound) {
			t.Errorf("Lookup(%v, %v) = %v, want an address error", a[0], a[1], err)
		}
	}
	broken := fakeProc()
	broken["net/tcp"] = &fstest.MapFile{Data: []byte("header\n 2: 0100007F:D431 0100007F:1F90 01 0:0 0:0 0 uid 0 inode\n")}
	_, err := peer.New(peer.Config{Proc: broken}).Lookup(tcpAddr("127.0.0.1:8080"), tcpAddr("127.0.0.1:54321"))
	if err == nil || errors.Is(err, peer.ErrNotFound) {
		t.Errorf("Lookup with a malformed table = %v, want an error naming it", err)
	}
}

// A socket's owner is remembered by the client's address and inode: a
// second lookup of the same socket does not search the processes, and a
// later socket on the same port is searched for anew.
func TestFinder_Cache(t *testing.T) {
	f, p := newFinder(t, 2)
	local, client := tcpAddr("127.0.0.1:8080"), tcpAddr("127.0.0.1:54321")
	first, err := f.Lookup(local, client)
	if err != nil || first.PID != 42 {
		t.Fatalf("Lookup = %+v, %v; want pid 42", first, err)
	}
	delete(p.MapFS, "42/fd/5") // a search would no longer find it
	first.Searched = false
	if got, err := f.Lookup(local, client); err != nil || got != first {
		t.Errorf("second Lookup = %+v, %v; want the remembered %+v", got, err, first)
	}

	// Port 54321 reused by pid 43 for a new socket.
	p.MapFS["net/tcp"] = &fstest.MapFile{Data: []byte(strings.Replace(tcp, "1000        0 200 ", "1000        0 600 ", 1))}
	p.MapFS["43/fd/7"] = &fstest.MapFile{Data: []byte("socket:[600]"), Mode: fs.ModeSymlink}
	if got, err := f.Lookup(local, client); err != nil || got.PID != 43 {
		t.Errorf("Lookup of a reused port = %+v, %v; want pid 43", got, err)
	}
}

// The processes last found are searched first: a new socket of the same
// client costs no listing of all processes.
func TestFinder_RecentFirst(t *testing.T) {
	f, p := newFinder(t, 0)
	local := tcpAddr("127.0.0.1:8080")
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); err != nil || got.PID != 42 {
		t.Fatalf("Lookup = %+v, %v; want pid 42", got, err)
	}
	if n := p.listings.Load(); n != 1 {
		t.Fatalf("first Lookup listed the processes %d times, want 1", n)
	}
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54325")); err != nil || got.PID != 42 {
		t.Fatalf("Lookup = %+v, %v; want pid 42", got, err)
	}
	if n := p.listings.Load(); n != 1 {
		t.Errorf("Lookup of a recent client's new socket listed the processes, %d listings in all; want 1", n)
	}
}

// A process is read once: a later socket of it costs its start time and
// executable alone, and a process that has run another executable since
// (an exec), or a new process given the same pid, is read anew.
func TestFinder_ReadsProcessOnce(t *testing.T) {
	f, p := newFinder(t, 1)
	local := tcpAddr("127.0.0.1:8080")
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); err != nil || got.UID != 1000 {
		t.Fatalf("Lookup = %+v, %v; want uid 1000", got, err)
	}
	p.MapFS["42/status"] = &fstest.MapFile{Data: []byte("Uid:\t1002\t1002\t1002\t1002\n")}
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54325")); err != nil || got.UID != 1000 {
		t.Errorf("Lookup of the same process's next socket = %+v, %v; want it remembered with uid 1000", got, err)
	}
	p.MapFS["42/exe"] = &fstest.MapFile{Data: []byte("/usr/bin/curl"), Mode: fs.ModeSymlink}
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); err != nil || got.Exe != "/usr/bin/curl" || got.UID != 1002 {
		t.Errorf("Lookup after pid 42 ran curl = %+v, %v; want /usr/bin/curl and uid 1002 read anew", got, err)
	}
	p.MapFS["42/stat"] = &fstest.MapFile{Data: []byte(stat(42, "a) b", 9000))}
	p.MapFS["42/status"] = &fstest.MapFile{Data: []byte("Uid:\t1003\t1003\t1003\t1003\n")}
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54325")); err != nil || got.UID != 1003 {
		t.Errorf("Lookup after pid 42 was reused = %+v, %v; want uid 1003 read anew", got, err)
	}
}

// A client's new sockets that were open when its fds were last read cost
// one fd link each, not another listing; one closed since is not taken
// for it.
func TestFinder_BurstReadsFdsOnce(t *testing.T) {
	f, p := newFinder(t, 1)
	local := tcpAddr("127.0.0.1:8080")
	var searched int32
	for i, port := range []string{"54321", "54325", "54321"} { // 54321 evicted by 54325
		got, err := f.Lookup(local, tcpAddr("127.0.0.1:"+port))
		if err != nil || got.PID != 42 || got.Searched != (i == 0) {
			t.Fatalf("Lookup %d, of :%s = %+v, %v; want pid 42, every process searched only in the first", i, port, got, err)
		}
		if i == 0 {
			searched = p.fdListings.Load() // the search of every process
		}
	}
	if n := p.fdListings.Load() - searched; n != 1 {
		t.Errorf("two lookups of pid 42's sockets listed fd directories %d times, want 1", n)
	}
	delete(p.MapFS, "42/fd/5")
	f.Lookup(local, tcpAddr("127.0.0.1:54325")) // evicts 54321 again
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); !errors.Is(err, peer.ErrNoProcess) {
		t.Errorf("Lookup of a socket whose fd is gone = %+v, %v; want ErrNoProcess", got, err)
	}
}

// A client that opens a connection per request gets the fd number of the
// one it closed: its fds that were sockets are read first, and the reading
// stops at the client's socket.
func TestFinder_ReconnectReadsFormerSocketsFirst(t *testing.T) {
	f, p := newFinder(t, 1)
	local := tcpAddr("127.0.0.1:8080")
	for _, port := range []string{"54321", "54325"} { // the second reads pid 42's fds
		if got, err := f.Lookup(local, tcpAddr("127.0.0.1:"+port)); err != nil || got.PID != 42 {
			t.Fatalf("Lookup of :%s = %+v, %v; want pid 42", port, got, err)
		}
	}
	// Port 54326 (D436), inode 600, on fd 5, which held inode 200.
	row := "   5: 0100007F:D436 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 600 1 0000000000000000 20 4 30 10 -1\n"
	p.MapFS["net/tcp"] = &fstest.MapFile{Data: []byte(tcp + row)}
	p.MapFS["42/fd/5"] = &fstest.MapFile{Data: []byte("socket:[600]"), Mode: fs.ModeSymlink}
	before := p.links42.Load()
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54326")); err != nil || got.PID != 42 {
		t.Fatalf("Lookup of the reconnected client = %+v, %v; want pid 42", got, err)
	}
	// fd 5 (a socket before) is read first, not fd 0; fd 6 is not read.
	if n := p.links42.Load() - before; n != 1 {
		t.Errorf("the lookup read %d of pid 42's fd links, want 1", n)
	}
}

// Evicted sockets are searched for again.
func TestFinder_Evicts(t *testing.T) {
	f, p := newFinder(t, 1)
	local := tcpAddr("127.0.0.1:8080")
	for _, port := range []string{"54321", "54324"} {
		if _, err := f.Lookup(local, tcpAddr("127.0.0.1:"+port)); err != nil && port == "54321" {
			t.Fatal(err)
		}
	}
	if _, err := f.Lookup(tcpAddr("[::1]:8080"), tcpAddr("[::1]:54324")); err != nil {
		t.Fatal(err)
	}
	delete(p.MapFS, "42/fd/5")
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); !errors.Is(err, peer.ErrNoProcess) {
		t.Errorf("Lookup of an evicted socket whose fd is gone = %+v, %v; want ErrNoProcess", got, err)
	}
}

// search is a peer.Search that allows a fixed number of searches and
// adds up what they cost.
type search struct {
	mu    sync.Mutex
	left  int
	spent time.Duration
}

var _ peer.Search = (*search)(nil)

func (s *search) Allow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left--
	return s.left >= 0
}

func (s *search) Spent(d time.Duration) {
	s.mu.Lock()
	s.spent += d
	s.mu.Unlock()
}

// A search of every process is asked of the Search and charged to it; one
// it refuses returns ErrNotSearched with the socket's owner, and a recent
// client's new socket needs none.
func TestFinder_LookupLimited(t *testing.T) {
	f, p := newFinder(t, 0)
	s := &search{left: 1}
	local := tcpAddr("127.0.0.1:8080")
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54321"), s); err != nil || got.PID != 42 || !got.Searched {
		t.Fatalf("first LookupLimited = %+v, %v; want pid 42, searched", got, err)
	}
	if s.spent <= 0 {
		t.Errorf("the search was charged %v, want its CPU time", s.spent)
	}
	got, err := f.LookupLimited(tcpAddr("[::1]:8080"), tcpAddr("[::1]:54324"), s)
	if !errors.Is(err, peer.ErrNotSearched) || got.UID != 1000 || got.Searched {
		t.Errorf("LookupLimited of a new client with no search left = %+v, %v; want uid 1000, ErrNotSearched", got, err)
	}
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54325"), s); err != nil || got.PID != 42 || got.Searched {
		t.Errorf("LookupLimited of pid 42's second socket = %+v, %v; want pid 42 found without a search", got, err)
	}
	if n := p.listings.Load(); n != 1 {
		t.Errorf("the processes were listed %d times, want 1", n)
	}
}

// Lookups of a new client's sockets at once make one search: the others
// wait for it, then find the client among the processes it found.
func TestFinder_OneSearchAtATime(t *testing.T) {
	f, p := newFinder(t, 0)
	local := tcpAddr("127.0.0.1:8080")
	var wg sync.WaitGroup
	for i := range 16 {
		client := tcpAddr([]string{"127.0.0.1:54321", "127.0.0.1:54325"}[i%2])
		wg.Go(func() {
			if got, err := f.Lookup(local, client); err != nil || got.PID != 42 {
				t.Errorf("Lookup(%v) = %+v, %v; want pid 42", client, got, err)
			}
		})
	}
	wg.Wait()
	if n := p.listings.Load(); n != 1 {
		t.Errorf("16 lookups at once of one client's 2 sockets listed the processes %d times, want 1", n)
	}
}

// A socket of another user than the recent clients' does not have their
// fds read again: reading them all, when none holds the socket, costs a
// readlink a fd (20 ms for a client holding 3,000) outside the search
// budget, for each connection another user opens.
func TestFinder_OtherUserSkipsRecentFds(t *testing.T) {
	f, p := newFinder(t, 0)
	local := tcpAddr("127.0.0.1:8080")
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); err != nil || got.PID != 42 {
		t.Fatalf("Lookup = %+v, %v; want pid 42", got, err)
	}
	p.fdListings.Store(0)
	p.links42.Store(0)
	got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54322"), &search{left: 0})
	if !errors.Is(err, peer.ErrNotSearched) || got.UID != 1001 {
		t.Errorf("LookupLimited of uid 1001's socket, no search left = %+v, %v; want uid 1001, ErrNotSearched", got, err)
	}
	if n, l := p.fdListings.Load(), p.links42.Load(); n != 0 || l != 0 {
		t.Errorf("the lookup of uid 1001's socket listed %d fd directories and read %d of uid 1000's pid 42's fd links, want none", n, l)
	}
}

// A recent client holding thousands of fds has only the fds that were
// sockets at its last scan and those opened since read again for a new
// client of its user, whom a search then finds; its own new sockets are
// found among those, or, on an fd that held a file at the last scan,
// among the rest, with no search. Reading them all cost a readlink a fd
// (20 ms for 3,000) on the request path, outside the search budget, for
// each new aws CLI while such a client (an IDE) was recent. Where the
// kernel gives the number of fds (6.2 and later), the fds are not even
// listed while that number is unchanged.
func TestFinder_RecentWithManyFds(t *testing.T) {
	for _, fdCount := range []bool{false, true} {
		t.Run(fmt.Sprintf("fd count %v", fdCount), func(t *testing.T) {
			testRecentWithManyFds(t, fdCount)
		})
	}
}

func testRecentWithManyFds(t *testing.T, fdCount bool) {
	f, p := newFinder(t, 0)
	p.fdCount = fdCount
	local := tcpAddr("127.0.0.1:8080")
	link := func(to string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(to), Mode: fs.ModeSymlink} }
	socket := func(port uint16, inode int) string {
		return fmt.Sprintf("   9: 0100007F:%04X 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 20 4 30 10 -1\n", port, inode)
	}
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); err != nil || got.PID != 42 {
		t.Fatalf("Lookup = %+v, %v; want pid 42", got, err)
	}
	for fd := 100; fd < 3100; fd++ {
		p.MapFS[fmt.Sprintf("42/fd/%d", fd)] = link("/dev/null")
	}
	// pid 43's socket: pid 42's fds are all read, once.
	if got, err := f.LookupLimited(tcpAddr("[::1]:8080"), tcpAddr("[::1]:54324"), &search{left: 1}); err != nil || got.PID != 43 || !got.Searched {
		t.Fatalf("LookupLimited of a new client = %+v, %v; want pid 43, found by a search", got, err)
	}
	// pid 44's socket, port 54328, a new client again.
	p.MapFS["net/tcp"] = &fstest.MapFile{Data: []byte(tcp + socket(54328, 800))}
	p.MapFS["44/fd/3"] = link("socket:[800]")
	p.links42.Store(0)
	p.fdListings42.Store(0)
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54328"), &search{left: 1}); err != nil || got.PID != 44 || !got.Searched {
		t.Errorf("LookupLimited of another new client = %+v, %v; want pid 44, found by a search", got, err)
	}
	if n := p.links42.Load(); n > 2 {
		t.Errorf("the lookup of a new client read %d of pid 42's 3,003 fd links, want its 2 former sockets' alone", n)
	}
	if n := p.fdListings42.Load(); fdCount && n != 0 {
		t.Errorf("the lookup of a new client listed pid 42's fds %d times, want none as their number is unchanged", n)
	}

	// pid 42's socket on port 54326, on fd 4000, opened since.
	p.MapFS["net/tcp"] = &fstest.MapFile{Data: []byte(tcp + socket(54326, 600) + socket(54327, 700))}
	p.MapFS["42/fd/4000"] = link("socket:[600]")
	p.links42.Store(0)
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54326"), &search{left: 0}); err != nil || got.PID != 42 || got.Searched {
		t.Errorf("LookupLimited of pid 42's socket on a new fd, no search left = %+v, %v; want pid 42, no search", got, err)
	}
	if n := p.links42.Load(); n > 3 {
		t.Errorf("the lookup of pid 42's socket on a new fd read %d of its fd links, want its 2 former sockets' and the new fd's", n)
	}
	// Its socket on port 54327, on fd 2000, which held /dev/null when read.
	p.MapFS["42/fd/2000"] = link("socket:[700]")
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54327"), &search{left: 0}); err != nil || got.PID != 42 || got.Searched {
		t.Errorf("LookupLimited of pid 42's socket on a reused fd, no search left = %+v, %v; want pid 42, no search", got, err)
	}
	// And on port 54329, on fd 1500, with a search allowed, which does not
	// find it.
	p.MapFS["net/tcp"] = &fstest.MapFile{Data: []byte(tcp + socket(54329, 900))}
	p.MapFS["42/fd/1500"] = link("socket:[900]")
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54329"), &search{left: 1}); err != nil || got.PID != 42 {
		t.Errorf("LookupLimited of pid 42's socket on a reused fd, a search allowed = %+v, %v; want pid 42", got, err)
	}
}

// A recent client's socket on an fd that held a file when read is found
// by the reading of the rest of its fds even when another lookup has read
// that fd since and noted the socket there: it was taken for one read
// already, and skipped (TestAuditNamesHostClients: a burst's issuance of
// "process not found").
func TestFinder_RestReadsWhatOthersNoted(t *testing.T) {
	f, p := newFinder(t, 0)
	p.fdCount = true
	local := tcpAddr("127.0.0.1:8080")
	link := func(to string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(to), Mode: fs.ModeSymlink} }
	socket := func(port uint16, inode int) string {
		return fmt.Sprintf("   9: 0100007F:%04X 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 20 4 30 10 -1\n", port, inode)
	}
	if got, err := f.Lookup(local, tcpAddr("127.0.0.1:54321")); err != nil || got.PID != 42 {
		t.Fatalf("Lookup = %+v, %v; want pid 42", got, err)
	}
	for fd := 100; fd < 3100; fd++ {
		p.MapFS[fmt.Sprintf("42/fd/%d", fd)] = link("/dev/null")
	}
	// pid 43's socket: pid 42's fds are all read.
	if got, err := f.LookupLimited(tcpAddr("[::1]:8080"), tcpAddr("[::1]:54324"), &search{left: 1}); err != nil || got.PID != 43 {
		t.Fatalf("LookupLimited of a new client = %+v, %v; want pid 43", got, err)
	}
	// Two sockets of pid 42 on fds that held files: 54327 on fd 2000,
	// 54330 on fd 2500.
	p.MapFS["net/tcp"] = &fstest.MapFile{Data: []byte(tcp + socket(54327, 700) + socket(54330, 710))}
	p.MapFS["42/fd/2000"] = link("socket:[700]")
	p.MapFS["42/fd/2500"] = link("socket:[710]")
	// As the first lookup lists pid 42's fds to read the rest, the second
	// reads them, fd 2000 on the way to its own.
	p.listing42 = func() {
		if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54330"), &search{left: 0}); err != nil || got.PID != 42 {
			t.Errorf("LookupLimited of pid 42's socket on fd 2500 = %+v, %v; want pid 42", got, err)
		}
	}
	if got, err := f.LookupLimited(local, tcpAddr("127.0.0.1:54327"), &search{left: 0}); err != nil || got.PID != 42 {
		t.Errorf("LookupLimited of pid 42's socket on fd 2000 = %+v, %v; want pid 42", got, err)
	}
}
