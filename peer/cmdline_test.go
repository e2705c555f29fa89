package peer_test

import (
	"io"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/brokerd/brokerd/peer"
)

// counted is a fake /proc that counts the bytes read from pid 42's
// cmdline.
type counted struct {
	*proc
	cmdline atomic.Int64
}

func (c *counted) Open(name string) (fs.File, error) {
	f, err := c.proc.Open(name)
	if err != nil || name != "42/cmdline" {
		return f, err
	}
	return &countedFile{File: f, n: &c.cmdline}, nil
}

// ReadFile reads through Open, as the system's /proc reads each file.
func (c *counted) ReadFile(name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

type countedFile struct {
	fs.File
	n *atomic.Int64
}

func (f *countedFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	f.n.Add(int64(n))
	return n, err
}

// A client with a command line of megabytes (argv may hold 2 MiB) has
// MaxCmdline bytes of it read, not all: the lookup is on the request path,
// and reading the whole of it took 9 ms a megabyte, for bytes cut away.
func TestFinder_LongCmdline(t *testing.T) {
	littleEndian(t)
	p := &counted{proc: &proc{MapFS: fakeProc()}}
	long := "java\x00-cp\x00" + strings.Repeat("/opt/lib/x.jar:", 1<<16) + "\x00Main\x00"
	p.MapFS["42/cmdline"] = &fstest.MapFile{Data: []byte(long)}
	f := peer.New(peer.Config{Proc: p})
	got, err := f.Lookup(tcpAddr("127.0.0.1:8080"), tcpAddr("127.0.0.1:54321"))
	want := strings.ReplaceAll(long, "\x00", " ")[:peer.MaxCmdline]
	if err != nil || got.PID != 42 || got.Cmdline != want {
		t.Fatalf("Lookup = %+v, %v; want pid 42 and the first %d bytes of the command line", got, err, peer.MaxCmdline)
	}
	if n := p.cmdline.Load(); n > 4096 {
		t.Errorf("Lookup read %d bytes of a %d-byte command line, want at most a page", n, len(long))
	}
}
