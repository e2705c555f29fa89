package peer

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
)

// This file reads what macOS tells about processes: the output of lsof -F
// and the kern.procargs2 sysctl. It has no build tag so that its tests run
// everywhere.

// lsofArgs are the arguments of lsof that list the established TCP
// sockets with an end at client, one line per field: p pid, c command,
// u uid, L login, f fd, n addresses.
func lsofArgs(client netip.AddrPort) []string {
	return []string{"-nP", "-w", "-iTCP@" + client.String(), "-sTCP:ESTABLISHED", "-FpcuLn"}
}

// parseLsof finds in lsof's output the process with a socket named
// client->server, and its uid.
func parseLsof(out []byte, client, server netip.AddrPort) (Process, error) {
	want := client.String() + "->" + server.String()
	var p Process
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		v := line[1:]
		switch line[0] {
		case 'p':
			pid, err := strconv.Atoi(v)
			if err != nil {
				return Process{}, fmt.Errorf("lsof: malformed pid %q", v)
			}
			p = Process{PID: pid, UID: -1}
		case 'u':
			uid, err := strconv.Atoi(v)
			if err != nil {
				return Process{}, fmt.Errorf("lsof: malformed uid %q", v)
			}
			p.UID = uid
		case 'n':
			if v == want && p.PID > 0 {
				return p, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Process{}, fmt.Errorf("read lsof output: %w", err)
	}
	return Process{}, fmt.Errorf("client %v of %v: %w", client, server, ErrNotFound)
}

// parseProcargs reads the executable path out of the kern.procargs2
// sysctl's value: argc (int32), the executable path, NUL padding, then the
// arguments and the environment, which are left alone.
func parseProcargs(b []byte) (exe string) {
	if len(b) < 4 {
		return ""
	}
	b = b[4:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
