//go:build !linux

package peer

import (
	"errors"
	"net/netip"
)

func diagSocket(_, _ netip.AddrPort) (socket, error) { return socket{}, errors.ErrUnsupported }
