package peer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysDiag is the process's netlink socket for sock_diag, opened on first
// use and kept: a query is then two system calls, not five.
var sysDiag diagConn

type diagConn struct {
	mu   sync.Mutex
	fd   int
	open bool
	seq  uint32
	buf  [512]byte
}

// diagSocket asks the kernel (sock_diag over netlink) for the one TCP
// socket whose local address is client and remote address is server. Its
// cost does not grow with the number of sockets the machine holds, unlike
// reading /proc/net/tcp, which walks them all.
func diagSocket(client, server netip.AddrPort) (socket, error) {
	return sysDiag.socket(client, server)
}

func (d *diagConn) socket(client, server netip.AddrPort) (socket, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.open {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
		if err != nil {
			return socket{}, fmt.Errorf("sock_diag: %w", err)
		}
		tv := unix.Timeval{Sec: 1}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		d.fd, d.open = fd, true
	}
	s, err := d.query(client, server)
	if err != nil && !errors.Is(err, ErrNotFound) { // start afresh next time
		unix.Close(d.fd)
		d.open = false
	}
	return s, err
}

// query sends one request and reads its answer, skipping answers to
// earlier requests that timed out. Call with d.mu.
func (d *diagConn) query(client, server netip.AddrPort) (socket, error) {
	family := uint8(unix.AF_INET)
	if !(client.Addr().Is4() && server.Addr().Is4()) {
		family = unix.AF_INET6
	}
	d.seq++
	// struct nlmsghdr + struct inet_diag_req_v2 (linux/inet_diag.h).
	const hdrLen, reqLen = 16, 56
	var msg [hdrLen + reqLen]byte
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], hdrLen+reqLen)
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(msg[8:], d.seq)
	req := msg[hdrLen:]
	req[0], req[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(req[4:], 0xffffffff) // every state
	putID(req[8:], client, server, family)
	if err := unix.Sendto(d.fd, msg[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return socket{}, fmt.Errorf("sock_diag: %w", err)
	}
	notFound := func() error { return fmt.Errorf("client %v of %v: %w", client, server, ErrNotFound) }
	for {
		// One inet_diag_msg (72 bytes) and its header, or an error.
		n, _, err := unix.Recvfrom(d.fd, d.buf[:], 0)
		if err != nil {
			return socket{}, fmt.Errorf("sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(d.buf[:n])
		if err != nil {
			return socket{}, fmt.Errorf("sock_diag: %w", err)
		}
		mine := false
		for _, m := range msgs {
			if m.Header.Seq != d.seq {
				continue
			}
			mine = true
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := unix.Errno(-int32(ne.Uint32(m.Data))); errno != 0 && errno != unix.ENOENT {
						return socket{}, fmt.Errorf("sock_diag: %w", errno)
					}
				}
				return socket{}, notFound()
			case unix.SOCK_DIAG_BY_FAMILY:
				// struct inet_diag_msg: uid at 64, inode at 68.
				if len(m.Data) < 72 {
					return socket{}, errors.New("sock_diag: short answer")
				}
				return socket{uid: int(ne.Uint32(m.Data[64:])), inode: uint64(ne.Uint32(m.Data[68:]))}, nil
			}
		}
		if mine {
			return socket{}, notFound()
		}
	}
}

// putID writes struct inet_diag_sockid for the socket from src to dst:
// ports and addresses in network order, no interface, no cookie.
func putID(b []byte, src, dst netip.AddrPort, family uint8) {
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	put := func(off int, a netip.Addr) {
		if family == unix.AF_INET {
			a4 := a.Unmap().As4()
			copy(b[off:], a4[:])
			return
		}
		a16 := a.As16() // an IPv4 address as ::ffff:a.b.c.d
		copy(b[off:], a16[:])
	}
	put(4, src.Addr())
	put(20, dst.Addr())
	ne := binary.NativeEndian
	ne.PutUint32(b[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(b[44:], 0xffffffff)
}
