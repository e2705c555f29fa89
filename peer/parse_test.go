package peer

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the expected values are a little-endian kernel's")
	}
	tests := []struct {
		addr string
		v6   bool
		want string
	}{
		{"127.0.0.1:8080", false, "0100007F:1F90"},
		{"127.0.0.1:8080", true, "0000000000000000FFFF00000100007F:1F90"},
		{"[::1]:54321", true, "00000000000000000000000001000000:D431"},
		{"169.254.170.2:80", false, "02AAFEA9:0050"},
	}
	for _, tt := range tests {
		if got := string(encode(netip.MustParseAddrPort(tt.addr), tt.v6)); got != tt.want {
			t.Errorf("encode(%q, %v) = %q, want %q", tt.addr, tt.v6, got, tt.want)
		}
	}
}

func TestParseLsof(t *testing.T) {
	out := "p999\ncbrokerd\nu501\nLalice\nf7\nn127.0.0.1:8080->127.0.0.1:54321\n" +
		"p1234\ncaws\nu502\nLbob\nf3\nn127.0.0.1:54321->127.0.0.1:8080\n"
	client, server := netip.MustParseAddrPort("127.0.0.1:54321"), netip.MustParseAddrPort("127.0.0.1:8080")
	tests := []struct {
		name, out string
		want      Process
		err       error
	}{
		{"client", out, Process{PID: 1234, UID: 502}, nil},
		{"only the server's side", strings.SplitAfter(out, "54321\n")[0], Process{}, ErrNotFound},
		{"empty", "", Process{}, ErrNotFound},
	}
	for _, tt := range tests {
		got, err := parseLsof([]byte(tt.out), client, server)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%s: parseLsof = %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
	if _, err := parseLsof([]byte("pxyz\n"), client, server); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("parseLsof(bad pid) = %v, want a parse error", err)
	}
}

func TestParseProcargs(t *testing.T) {
	argc := func(n uint32) string { b := binary.NativeEndian.AppendUint32(nil, n); return string(b) }
	tests := []struct{ in, exe string }{
		{argc(3) + "/usr/local/bin/aws\x00\x00\x00\x00aws\x00s3\x00ls\x00HOME=/Users/a\x00AWS_SECRET_ACCESS_KEY=x\x00", "/usr/local/bin/aws"},
		{argc(1) + "/bin/x\x00x", "/bin/x"},
		{argc(2) + "/bin/x", "/bin/x"},
		{"ab", ""},
	}
	for _, tt := range tests {
		if exe := parseProcargs([]byte(tt.in)); exe != tt.exe {
			t.Errorf("parseProcargs(%q) = %q, want %q", tt.in, exe, tt.exe)
		}
	}
}
