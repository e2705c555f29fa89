package peer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// This file reads a Linux /proc tree through an fs.FS, so that tests can
// hand it a fake one on any system.

// socket is one row of /proc/net/tcp or tcp6.
type socket struct {
	uid   int
	inode uint64
}

// findSocket finds the socket whose local address is client and whose
// remote address is server, in net/tcp then net/tcp6. A live socket (one
// with an inode) wins over one that is closing.
func findSocket(proc fs.FS, client, server netip.AddrPort) (socket, error) {
	found, closing := socket{}, false
	for _, v6 := range []bool{false, true} {
		name := "net/tcp"
		if v6 {
			name = "net/tcp6"
		}
		if !v6 && !(client.Addr().Is4() && server.Addr().Is4()) {
			continue
		}
		data, err := readTable(proc, name)
		if errors.Is(err, fs.ErrNotExist) && v6 {
			continue // IPv6 disabled
		}
		if err != nil {
			return socket{}, fmt.Errorf("read socket table: %w", err)
		}
		local, remote := encode(client, v6), encode(server, v6)
		for line := range bytes.Lines(data) {
			var f [10][]byte
			if n := fields(line, f[:]); n < len(f) || !bytes.Equal(f[1], local) || !bytes.Equal(f[2], remote) {
				continue
			}
			uid, err1 := strconv.Atoi(string(f[7]))
			inode, err2 := strconv.ParseUint(string(f[9]), 10, 64)
			if err1 != nil || err2 != nil {
				return socket{}, fmt.Errorf("read socket table %s: malformed line %q", name, bytes.TrimSpace(line))
			}
			if inode != 0 {
				return socket{uid: uid, inode: inode}, nil
			}
			found, closing = socket{uid: uid}, true
		}
	}
	if closing {
		return found, nil
	}
	return socket{}, fmt.Errorf("client %v of %v: %w", client, server, ErrNotFound)
}

// readTable reads a socket table in reads of 64 KiB or more: each read
// walks the kernel's whole table of TCP sockets, which costs about a
// millisecond however few sockets there are, and fs.ReadFile would start
// with 512 bytes.
func readTable(proc fs.FS, name string) ([]byte, error) {
	f, err := proc.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 0, 64<<10)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF || (n == 0 && err == nil) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = slices.Grow(b, len(b))
		}
	}
}

// encode writes an address as the socket tables do: each 32-bit word of
// the address in host byte order as 8 hex digits, a colon, the port as 4.
// In tcp6, IPv4 addresses appear mapped (::ffff:127.0.0.1).
func encode(ap netip.AddrPort, v6 bool) []byte {
	var ip []byte
	if v6 {
		a := ap.Addr().As16()
		ip = a[:]
	} else {
		a := ap.Addr().As4()
		ip = a[:]
	}
	b := make([]byte, 0, 2*len(ip)+5)
	for i := 0; i < len(ip); i += 4 {
		b = fmt.Appendf(b, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	return fmt.Appendf(b, ":%04X", ap.Port())
}

// fields stores the first len(f) space-separated fields of line in f and
// returns how many it found.
func fields(line []byte, f [][]byte) int {
	n := 0
	for n < len(f) {
		line = bytes.TrimLeft(line, " \t\n")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexAny(line, " \t\n")
		if end < 0 {
			end = len(line)
		}
		f[n], line = line[:end], line[end:]
		n++
	}
	return n
}

// findHolder finds the process with an fd linked to s's inode among all
// but the pids in skip (looked at already), newest pid first: a client is
// usually a process just started.
func findHolder(proc fs.FS, s socket, skip []int) (int, error) {
	target := socketLink(s.inode)
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 && !slices.Contains(skip, pid) {
			pids = append(pids, pid)
		}
	}
	slices.SortFunc(pids, func(a, b int) int { return b - a })
	hidden := 0
	for _, pid := range pids {
		ok, err := holds(proc, strconv.Itoa(pid), target)
		if ok {
			return pid, nil
		}
		if errors.Is(err, fs.ErrPermission) {
			hidden++
		}
	}
	if hidden > 0 {
		return 0, fmt.Errorf("%d processes are not readable by this user: %w", hidden, ErrNoProcess)
	}
	return 0, ErrNoProcess
}

// holds reports whether the process named pid has an fd linked to target.
func holds(proc fs.FS, pid, target string) (bool, error) {
	dir := pid + "/fd"
	ents, err := fs.ReadDir(proc, dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if readLink(proc, dir+"/"+e.Name()) == target {
			return true, nil
		}
	}
	return false, nil
}

// listFds lists the fds of pid.
func listFds(proc fs.FS, pid int) ([]int32, error) {
	ents, err := fs.ReadDir(proc, strconv.Itoa(pid)+"/fd")
	if err != nil {
		return nil, err
	}
	fds := make([]int32, 0, len(ents))
	for _, e := range ents {
		if fd, err := strconv.ParseInt(e.Name(), 10, 32); err == nil {
			fds = append(fds, int32(fd))
		}
	}
	return fds, nil
}

// fdCount is the number of pid's fds as the size of its fd directory
// (Linux 6.2 and later; 0 before), -1 when it cannot be read.
func fdCount(proc fs.FS, pid int) int {
	fi, err := fs.Stat(proc, strconv.Itoa(pid)+"/fd")
	if err != nil {
		return -1
	}
	return int(fi.Size())
}

// fdPath is the name of pid's fd in proc.
func fdPath(pid int, fd int32) string {
	return strconv.Itoa(pid) + "/fd/" + strconv.FormatInt(int64(fd), 10)
}

// fdLink is what an fd read: the socket inode it was linked to, 0 when
// it was not a socket.
type fdLink struct {
	fd    int32
	inode uint64
}

// readFds reads the links of pid's fds, in order, until one is linked to
// the socket inode, and returns what it read and whether it found it. An
// fd closed meanwhile is left out.
func readFds(proc fs.FS, pid int, fds []int32, inode uint64) (read []fdLink, found bool) {
	dir := strconv.Itoa(pid) + "/fd/"
	for _, fd := range fds {
		l, err := fs.ReadLink(proc, dir+strconv.FormatInt(int64(fd), 10))
		if err != nil {
			continue
		}
		r := fdLink{fd: fd}
		if n, ok := strings.CutPrefix(l, "socket:["); ok {
			r.inode, _ = strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64)
		}
		read = append(read, r)
		if r.inode == inode {
			return read, true
		}
	}
	return read, false
}

// fdTable is what was read of a process's fds: the socket inode that each
// fd read was linked to (0: not a socket), and the fd of each socket. An
// fd listed that it does not hold is new, opened since, or not read yet.
type fdTable struct {
	fds   map[int32]fdEntry
	socks map[uint64]int32
	// listing counts the listings sorted, so that an fd that a listing
	// no longer showed (closed) is dropped, and one that takes its number
	// later is new.
	listing uint32
}

type fdEntry struct {
	inode   uint64
	listing uint32 // the last listing that showed it
}

func newFdTable() *fdTable {
	return &fdTable{fds: make(map[int32]fdEntry), socks: make(map[uint64]int32)}
}

// holder is the fd that held the socket inode when read.
func (t *fdTable) holder(inode uint64) (int32, bool) {
	if t == nil {
		return 0, false
	}
	fd, ok := t.socks[inode]
	return fd, ok
}

// split sorts the fds listed into those that were sockets when read, the
// new ones (not read), and the others, which held files when read. It
// forgets the fds not listed. To a nil table every fd is new.
func (t *fdTable) split(listed []int32) (former, fresh, others []int32) {
	if t == nil {
		return nil, listed, nil
	}
	t.listing++
	for _, fd := range listed {
		e, ok := t.fds[fd]
		switch {
		case !ok:
			fresh = append(fresh, fd)
			continue
		case e.inode != 0:
			former = append(former, fd)
		default:
			others = append(others, fd)
		}
		e.listing = t.listing
		t.fds[fd] = e
	}
	for fd, e := range t.fds {
		if e.listing != t.listing {
			t.forget(fd, e)
		}
	}
	return former, fresh, others
}

// size is how many fds were read and are not known closed; 0 for a nil
// table.
func (t *fdTable) size() int {
	if t == nil {
		return 0
	}
	return len(t.fds)
}

// sockets are the fds that were sockets when read.
func (t *fdTable) sockets() []int32 {
	return slices.Collect(maps.Values(t.socks))
}

// set records what fd was read to hold.
func (t *fdTable) set(fd int32, inode uint64) {
	if e, ok := t.fds[fd]; ok {
		t.forget(fd, e)
	}
	t.fds[fd] = fdEntry{inode: inode, listing: t.listing}
	if inode != 0 {
		t.socks[inode] = fd
	}
}

func (t *fdTable) forget(fd int32, e fdEntry) {
	delete(t.fds, fd)
	if e.inode != 0 && t.socks[e.inode] == fd {
		delete(t.socks, e.inode)
	}
}

// socketLink is what an fd linked to the socket inode reads.
func socketLink(inode uint64) string { return "socket:[" + strconv.FormatUint(inode, 10) + "]" }

// readLink is the link's target, "" when it cannot be read.
func readLink(proc fs.FS, name string) string {
	l, _ := fs.ReadLink(proc, name)
	return l
}

// describe reads the executable, mount namespace and effective uid of
// pid; what it cannot read stays empty (uid: the socket's).
func describe(proc fs.FS, pid, uid int) Process {
	dir := strconv.Itoa(pid) + "/"
	p := Process{PID: pid, UID: uid}
	p.Exe, _ = fs.ReadLink(proc, dir+"exe")
	if ns := readLink(proc, dir+"ns/mnt"); ns != "" && ns != readLink(proc, "self/ns/mnt") {
		p.MountNS = ns
	}
	if status, err := fs.ReadFile(proc, dir+"status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(rest); len(f) >= 2 {
					if euid, err := strconv.Atoi(f[1]); err == nil {
						p.UID = euid
					}
				}
				break
			}
		}
	}
	return p
}

// startTime reads when pid started (field 22 of its stat, in clock
// ticks since boot), which tells a process from a later one given the same
// pid.
func startTime(proc fs.FS, pid int) (uint64, bool) {
	b, err := fs.ReadFile(proc, strconv.Itoa(pid)+"/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces and parentheses;
	// the fields after the last ")" start at field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	t, err := strconv.ParseUint(f[19], 10, 64)
	return t, err == nil
}
