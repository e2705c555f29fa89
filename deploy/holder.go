package deploy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where holds6 reads the kernel's sockets and the service's
// descriptors; tests point it at a fake.
var procRoot = "/proc"

// heldElsewhere6 says whether the listening socket on [::1] at port (or on
// [::], which holds it too) is known to belong to a process other than
// pid: the tables of this network namespace list such a socket, and none of
// pid's descriptors is it. It is false when that cannot be told (no /proc,
// pid's descriptors unreadable, the socket not listed), so that only a
// holder known to be another program is refused. Linux only.
func heldElsewhere6(pid, port int) bool {
	b, err := os.ReadFile(filepath.Join(procRoot, "net", "tcp6"))
	if err != nil {
		return false
	}
	inodes := listening6(b, port)
	if len(inodes) == 0 {
		return false
	}
	fds, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(procRoot, strconv.Itoa(pid), "fd", fd.Name()))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(in, "]")] {
			return false
		}
	}
	return true
}

// listening6 is the set of inodes of the sockets that /proc/net/tcp6 (b)
// lists as listening on [::1] or [::] at port.
func listening6(b []byte, port int) map[string]bool {
	inodes := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(p) != port {
			continue
		}
		addr, ok := procAddr6(hexAddr)
		if ok && (addr == netip.IPv6Loopback() || addr == netip.IPv6Unspecified()) && f[9] != "0" {
			inodes[f[9]] = true
		}
	}
	return inodes
}

// procAddr6 decodes an address of /proc/net/tcp6: the kernel prints its
// four 32-bit words in hex, each read from memory in the machine's byte
// order.
func procAddr6(s string) (netip.Addr, bool) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 16 {
		return netip.Addr{}, false
	}
	var a [16]byte
	for i := 0; i < 16; i += 4 {
		binary.NativeEndian.PutUint32(a[i:], binary.BigEndian.Uint32(raw[i:i+4]))
	}
	return netip.AddrFrom16(a), true
}
