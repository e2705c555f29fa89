package peer

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// systemProc is the running system's /proc. It reads files and lists
// directories with the fewest system calls (open, read or getdents,
// close): os.DirFS adds an fstat or two to each, and a lookup reads a
// directory and a file or two.
func systemProc() fs.FS { return procFS{os.DirFS("/proc").(dirFS)} }

type dirFS interface {
	fs.FS
	fs.ReadLinkFS
}

type procFS struct{ dirFS }

var (
	_ fs.ReadFileFS = procFS{}
	_ fs.ReadDirFS  = procFS{}
	_ fs.ReadLinkFS = procFS{}
)

func (p procFS) open(name string, flags int) (int, error) {
	if !fs.ValidPath(name) {
		return -1, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	fd, err := unix.Open("/proc/"+name, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return fd, nil
}

// ReadFile reads a /proc file, which reports no size: read until EOF.
func (p procFS) ReadFile(name string) ([]byte, error) {
	fd, err := p.open(name, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// direntBufs holds ReadDir's buffers. On the stack, 8 KiB would grow the
// goroutine of the connection being looked up to 16 KiB, copying it twice
// (scripts/load, a new connection per request: runtime.copystack).
var direntBufs = sync.Pool{New: func() any { return new([8192]byte) }}

// ReadDir lists a /proc directory, sorted by name as fs.ReadDirFS asks.
func (p procFS) ReadDir(name string) ([]fs.DirEntry, error) {
	fd, err := p.open(name, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := direntBufs.Get().(*[8192]byte)
	defer direntBufs.Put(buf)
	for {
		n, err := unix.ReadDirent(fd, buf[:])
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: name, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	slices.Sort(names)
	ents := make([]fs.DirEntry, len(names))
	for i, n := range names {
		ents[i] = entry(n)
	}
	return ents, nil
}

// entry is a name listed in /proc; the package reads names alone.
type entry string

func (e entry) Name() string               { return string(e) }
func (e entry) IsDir() bool                { return false }
func (e entry) Type() fs.FileMode          { return fs.ModeIrregular }
func (e entry) Info() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }

// systemLookup is not used on Linux, where the Finder always has a /proc.
func systemLookup(_, _ netip.AddrPort) (Process, error) {
	return Process{}, errors.ErrUnsupported
}
