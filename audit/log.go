package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"gopkg.in/natefinch/lumberjack.v2"
)

// FileName is the name of the current audit log in its directory; rotated
// ones are named audit-2026-12-01T18-54-12.000.log (UTC).
const FileName = "audit.log"

// LockName is the file in the log's directory that the Log writing it
// holds locked (flock) while open, with its process id: two writers would
// each rotate the file at their own count of the bytes they wrote, into
// each other's rotated files.
const LockName = "lock"

// Config holds the log's tunables; a zero field takes the default named.
type Config struct {
	// MaxSize is the size in megabytes at which the file is rotated
	// (default 10), MaxBackups how many rotated files are kept (default 5).
	MaxSize, MaxBackups int
	// Buffer is how many events wait for the writer before Record drops
	// them (default 1024).
	Buffer int
	// Clock stamps events; nil means the real clock.
	Clock clockwork.Clock
	// Log receives the count of dropped events and write failures; nil
	// logs nothing.
	Log *zap.Logger
}

// Log appends events to the audit log from a goroutine of its own, so
// that Record never waits for the disk. It is safe for concurrent use.
type Log struct {
	cfg Config
	log *zap.Logger
	out io.WriteCloser
	// lock is the directory's lock file, held locked; nil for New's.
	// Only run touches it, then Close once run has ended.
	lock *os.File
	// renew starts the file again when it has been removed, with the lock
	// when that is gone too, and reports whether it did; run calls it
	// before each write. nil for New's.
	renew  func(lock **os.File) (bool, error)
	mu     sync.RWMutex // held for writing to close ch
	closed bool
	// ch holds pointers: a queue of values would be 200 KB of live heap
	// that every GC cycle scans, most of it empty slots.
	ch      chan *Event
	done    chan struct{}
	dropped atomic.Uint64
}

// Open opens the audit log in dir, brokerd's own state or data directory:
// it creates dir with mode 0700, or narrows it to 0700, and the file with
// mode 0600, which rotated files keep; a file or directory removed while
// the log is open is made again at the next write. It locks the directory
// (LockName) until Close, and returns an error wrapping ErrInUse, with the
// other's process id, when another Log holds it. It starts the writer,
// which Close stops.
//
// The rotation (lumberjack) starts a goroutine of its own on the first
// write that outlives Close: one idle goroutine per Log opened.
func Open(dir string, cfg Config) (*Log, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 10
	}
	if cfg.MaxBackups <= 0 {
		cfg.MaxBackups = 5
	}
	if err := prepare(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if errors.Is(err, errNoLocks) {
		// As before locks: a second brokerd given the directory is not
		// refused.
		if cfg.Log != nil {
			cfg.Log.Warn("the audit log directory cannot be locked, so another brokerd writing there would not be refused", zap.Error(err))
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	out := &lumberjack.Logger{
		Filename:   filepath.Join(dir, FileName),
		MaxSize:    cfg.MaxSize,
		MaxBackups: cfg.MaxBackups,
	}
	return begin(out, cfg, func(lock **os.File) (bool, error) { return renew(dir, out, lock) }, lock), nil
}

// ErrInUse is what Open's error wraps when another Log, most often
// another brokerd's, holds the directory.
var ErrInUse = errors.New("audit log directory in use")

// errNoLocks is what lockDir's error wraps, with the lock file open but
// not locked, where dir's file system has no locks: NFS mounted nolock,
// some FUSE and SMB mounts.
var errNoLocks = errors.New("the file system has no locks")

// flock is syscall.Flock; tests replace it.
var flock = syscall.Flock

// lockDir takes the lock of dir, and writes this process's id in it. Where
// the file system has no locks, it returns the lock file open, unlocked,
// with an error wrapping errNoLocks.
func lockDir(dir string) (*os.File, error) {
	name := filepath.Join(dir, LockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log lock: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("audit log lock %s is not a regular file: remove it", name)
	}
	if err := flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTSUP) {
			return f, fmt.Errorf("lock audit log directory: %w: %w", errNoLocks, err)
		}
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 320))
			return nil, fmt.Errorf("%w: %s writes its audit log here", ErrInUse, holder(string(b)))
		}
		return nil, fmt.Errorf("lock audit log directory: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+hostname()+"\n"), 0)
	}
	return f, nil
}

// holder names the brokerd whose lock file holds text, "PID HOST" (or
// "PID", an older brokerd's): the host only when it is not this one, as
// with a directory on NFS that two machines' brokerds share, where the
// pid is another machine's.
func holder(text string) string {
	f := strings.Fields(text)
	if len(f) == 0 {
		return "another brokerd"
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return "another brokerd"
	}
	if len(f) > 1 && f[1] != hostname() && len(f[1]) <= 255 && !strings.ContainsFunc(f[1], func(r rune) bool { return !unicode.IsGraphic(r) }) {
		return fmt.Sprintf("another brokerd (pid %d on host %s)", pid, f[1])
	}
	return fmt.Sprintf("another brokerd (pid %d)", pid)
}

// hostname is this machine's name, "" when unknown; a name with spaces is
// not one.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || strings.ContainsFunc(h, unicode.IsSpace) || len(h) > 255 {
		return ""
	}
	return h
}

// renew starts the log in dir again when its file is gone (rm audit.log,
// or the whole directory, to clear it): out would write on to the removed
// file, which no one can read, until its next rotation. It makes the
// directory and file as Open does, takes the lock again when it is gone
// too (*lock, which it replaces), and has out open the new file at its
// next write. It reports whether it did.
func renew(dir string, out *lumberjack.Logger, lock **os.File) (bool, error) {
	if _, err := os.Lstat(out.Filename); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := prepare(dir); err != nil {
		return false, err
	}
	if !holds(dir, *lock) {
		l, err := lockDir(dir)
		if errors.Is(err, errNoLocks) {
			err = nil // as Open
		}
		if err != nil {
			return false, err
		}
		(*lock).Close()
		*lock = l
	}
	if err := out.Close(); err != nil {
		return true, fmt.Errorf("close removed audit log: %w", err)
	}
	return true, nil
}

// holds reports whether lock is dir's lock file.
func holds(dir string, lock *os.File) bool {
	held, err := lock.Stat()
	if err != nil {
		return false
	}
	fi, err := os.Lstat(filepath.Join(dir, LockName))
	return err == nil && os.SameFile(fi, held)
}

// prepare makes dir 0700 and its current file 0600, creating them if need
// be, so that lumberjack, which copies the current file's mode to the next
// one, keeps every file 0600.
func prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create audit log directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict audit log directory: %w", err)
	}
	name := filepath.Join(dir, FileName)
	if fi, err := os.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return notRegular(name, fi.Mode())
	}
	// Not through a symbolic link, whose target it would make 0600 and
	// write to (as root, /dev/null), nor waiting for a named pipe's reader.
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("open audit log: %w", err)
	} else if !fi.Mode().IsRegular() {
		return notRegular(name, fi.Mode())
	}
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("restrict audit log: %w", err)
	}
	return nil
}

// notRegular is the error of an audit.log that is not a regular file: a
// symbolic link, a named pipe, a directory.
func notRegular(name string, mode fs.FileMode) error {
	what := "not a regular file"
	switch {
	case mode&fs.ModeSymlink != 0:
		what += " but a symbolic link"
	case mode&fs.ModeNamedPipe != 0:
		what += " but a named pipe"
	case mode.IsDir():
		what += " but a directory"
	}
	return fmt.Errorf("audit log %s is %s", name, what)
}

// New returns a Log that writes JSON lines to out, closed by Close, with
// no file and no rotation: for tests, which then start no goroutine that
// outlives Close.
func New(out io.WriteCloser, cfg Config) *Log { return start(out, cfg) }

// start runs the writer on out.
func start(out io.WriteCloser, cfg Config) *Log { return begin(out, cfg, nil, nil) }

// begin runs the writer on out, calling renew (nil: none) before each
// write; lock (nil: none) is closed by Close.
func begin(out io.WriteCloser, cfg Config, renew func(lock **os.File) (bool, error), lock *os.File) *Log {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	l := &Log{cfg: cfg, log: log, out: out, renew: renew, lock: lock, ch: make(chan *Event, cfg.Buffer), done: make(chan struct{})}
	go l.run()
	return l
}

// Record queues e for writing without waiting: it stamps e's time when
// zero, masks its key id, and drops it, counting, when the buffer is full
// or the Log closed.
func (l *Log) Record(e Event) {
	if e.Time.IsZero() {
		e.Time = l.cfg.Clock.Now()
	}
	e.Time = e.Time.UTC()
	if !e.Expires.IsZero() {
		e.Expires = e.Expires.UTC()
	}
	if !e.Until.IsZero() {
		e.Until = e.Until.UTC()
	}
	e.KeyID = MaskKey(e.KeyID)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	if len(l.ch) == cap(l.ch) { // full: drop without allocating
		l.dropped.Add(1)
		return
	}
	ev := new(Event)
	*ev = e
	select {
	case l.ch <- ev:
	default:
		l.dropped.Add(1)
	}
}

// Dropped is how many events Record has dropped.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Close writes the events queued, stops the writer and closes the file.
// Events recorded later are dropped. Calling it again does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.ch)
	l.mu.Unlock()
	<-l.done
	err := l.out.Close()
	if l.lock != nil {
		l.lock.Close() // after the last write
	}
	if err != nil {
		return fmt.Errorf("close audit log: %w", err)
	}
	return nil
}

// maxBatch is about how many bytes the writer gathers for one write.
const maxBatch = 64 << 10

// run writes events in batches of whole lines, so that a rotation never
// splits one, until ch is closed and drained. When it has caught up, it
// reports the events dropped since its last report.
func (l *Log) run() {
	defer close(l.done)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var reported, failed uint64
	torn := false        // the file ends in a line that a failed write cut short
	renewFailed := false // reported once until a renewal works
	for e := range l.ch {
		if l.renew != nil {
			switch renewed, err := l.renew(&l.lock); {
			case err != nil && !renewFailed:
				l.log.Error("audit log removed, and not started again", zap.Error(err))
				renewFailed = true
			case err == nil && renewed:
				l.log.Warn("audit log removed: a new one started")
				torn, renewFailed = false, false
			}
		}
		if torn {
			buf.WriteByte('\n') // lest the cut line swallow the next
		}
		n := 0
		for {
			if err := enc.Encode(e); err != nil { // cannot fail for an Event
				l.log.Error("encode audit event", zap.Error(err))
			}
			n++
			if len(l.ch) == 0 || buf.Len() >= maxBatch {
				break
			}
			e = <-l.ch
		}
		data := escapeJSON(buf.Bytes())
		written, err := l.out.Write(data)
		if written > 0 {
			torn = data[written-1] != '\n'
		}
		if err != nil {
			if failed == 0 {
				l.log.Error("write audit log", zap.Error(err))
			}
			failed += uint64(n)
		} else if failed > 0 {
			l.log.Warn("audit log written again", zap.Uint64("events_lost", failed))
			failed = 0
		}
		buf.Reset()
		if len(l.ch) == 0 {
			reported = l.reportDrops(reported)
		}
	}
	l.reportDrops(reported)
	if failed > 0 {
		l.log.Error("audit events not written", zap.Uint64("events_lost", failed))
	}
}

// reportDrops logs the events dropped since reported, and returns the new
// total.
func (l *Log) reportDrops(reported uint64) uint64 {
	total := l.dropped.Load()
	if total > reported {
		l.log.Warn("audit events dropped: buffer full",
			zap.Uint64("dropped", total-reported), zap.Uint64("dropped_total", total))
	}
	return total
}
