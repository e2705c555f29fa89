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

// scanFor reads the fd links of the process named pid until one is linked
// to the socket inode, and returns the sockets it read on the way (inode
// to fd) and whether it found it. known is what an earlier scan returned:
// the fds that were sockets then are read first, since a client that
// opens a connection per request gets the number of the one it closed.
func scanFor(proc fs.FS, pid string, inode uint64, known map[uint64]string) (seen map[uint64]string, found bool, err error) {
	dir := pid + "/fd"
	ents, err := fs.ReadDir(proc, dir)
	if err != nil {
		return nil, false, err
	}
	wasSocket := make(map[string]bool, len(known))
	for _, fd := range known {
		wasSocket[fd] = true
	}
	slices.SortStableFunc(ents, func(a, b fs.DirEntry) int {
		switch wa, wb := wasSocket[a.Name()], wasSocket[b.Name()]; {
		case wa && !wb:
			return -1
		case wb && !wa:
			return 1
		}
		return 0
	})
	seen = make(map[uint64]string)
	for _, e := range ents {
		n, ok := strings.CutPrefix(readLink(proc, dir+"/"+e.Name()), "socket:[")
		if !ok {
			continue
		}
		if in, err := strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64); err == nil {
			seen[in] = e.Name()
			if in == inode {
				return seen, true, nil
			}
		}
	}
	return seen, false, nil
}

// merge is what is known of a process's sockets after a scan: what it saw,
// and what was known of the fds it did not read (one inode per fd, so it
// stays as small as the process's fd table).
func merge(known, seen map[uint64]string) map[uint64]string {
	read := make(map[string]bool, len(seen))
	for _, fd := range seen {
		read[fd] = true
	}
	out := maps.Clone(seen)
	for in, fd := range known {
		if !read[fd] {
			if _, dup := out[in]; !dup {
				out[in] = fd
			}
		}
	}
	return out
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
