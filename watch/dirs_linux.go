package watch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// dirsMask is what dirsWatcher asks inotify for: names made, removed or
// renamed in a directory, and its own removal or rename; not writes, nor
// changes of mode or times, which fsnotify always asks for.
const dirsMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// dirsWatcher watches directories for names made, removed or renamed in
// them, with inotify, so that the kernel wakes brokerd for nothing else:
// with ~/.aws missing or a link, $HOME is watched, and the shell's history
// and other files there are written all day.
type dirsWatcher struct {
	fd   int
	file *os.File // fd, read through Go's poller; Close ends a Read
	evs  chan fsnotify.Event
	errs chan error
	done chan struct{}
	wg   sync.WaitGroup

	mu   sync.Mutex
	dirs map[int]string // by watch descriptor
}

func newDirsWatcher() (watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	w := &dirsWatcher{fd: fd, file: os.NewFile(uintptr(fd), "inotify"),
		evs: make(chan fsnotify.Event), errs: make(chan error), done: make(chan struct{}), dirs: map[int]string{}}
	w.wg.Add(1)
	go w.read()
	return w, nil
}

func (w *dirsWatcher) events() <-chan fsnotify.Event { return w.evs }
func (w *dirsWatcher) errors() <-chan error          { return w.errs }

func (w *dirsWatcher) Add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := unix.InotifyAddWatch(w.fd, dir, dirsMask)
	if err != nil {
		return fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	w.dirs[wd] = dir
	return nil
}

func (w *dirsWatcher) Remove(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wd, d := range w.dirs {
		if d == dir {
			delete(w.dirs, wd)
			_, err := unix.InotifyRmWatch(w.fd, uint32(wd))
			return err
		}
	}
	return fmt.Errorf("%s: %w", dir, fsnotify.ErrNonExistentWatch)
}

func (w *dirsWatcher) WatchList() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := make([]string, 0, len(w.dirs))
	for _, d := range w.dirs {
		list = append(list, d)
	}
	return list
}

// Close ends the watch, and returns once read has.
func (w *dirsWatcher) Close() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	close(w.done)
	err := w.file.Close()
	w.wg.Wait()
	return err
}

// read sends the events inotify gives until Close.
func (w *dirsWatcher) read() {
	defer w.wg.Done()
	var buf [64 * (unix.SizeofInotifyEvent + unix.NAME_MAX + 1)]byte
	for {
		n, err := w.file.Read(buf[:])
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			w.send(nil, fmt.Errorf("read inotify: %w", err))
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : min(n, off+unix.SizeofInotifyEvent+int(raw.Len))]
			off += unix.SizeofInotifyEvent + int(raw.Len)
			if raw.Mask&unix.IN_Q_OVERFLOW != 0 {
				if !w.send(nil, fsnotify.ErrEventOverflow) {
					return
				}
				continue
			}
			w.mu.Lock()
			dir, ok := w.dirs[int(raw.Wd)]
			if raw.Mask&unix.IN_IGNORED != 0 {
				// The watch is gone: removed, or its directory was.
				delete(w.dirs, int(raw.Wd))
				ok = false
			}
			w.mu.Unlock()
			if !ok {
				continue
			}
			ev := fsnotify.Event{Name: dir, Op: op(raw.Mask)}
			if b := bytes.TrimRight(name, "\x00"); len(b) > 0 {
				ev.Name = dir + string(os.PathSeparator) + string(b)
			}
			if !w.send(&ev, nil) {
				return
			}
		}
	}
}

// send passes on an event or an error; false once Close was called.
func (w *dirsWatcher) send(ev *fsnotify.Event, err error) bool {
	if ev != nil {
		select {
		case w.evs <- *ev:
			return true
		case <-w.done:
			return false
		}
	}
	select {
	case w.errs <- err:
		return true
	case <-w.done:
		return false
	}
}

func op(mask uint32) fsnotify.Op {
	switch {
	case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		return fsnotify.Create
	case mask&(unix.IN_MOVED_FROM|unix.IN_MOVE_SELF) != 0:
		return fsnotify.Rename
	}
	return fsnotify.Remove
}
