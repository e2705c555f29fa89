// Package watch provides notice of changes to a file as editors make them:
// written in place, replaced by a rename, removed and written again, or
// reached through a symbolic link whose target changes.
package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// File calls changed after changes to the file at path, until ctx ends.
// It watches the directories of path and of the file path links to, since
// an editor that saves by a rename replaces the file a watch on it would
// follow. While such a directory does not exist (no ~/.aws yet, or it was
// removed), it watches the nearest one above it that does, until the
// directory is there again; there, and in the directory that holds a link
// on the way (~/.aws a link), only names made, removed or renamed count,
// and on Linux nothing else is even delivered: not the writes to the other
// files of $HOME. A burst of events calls changed as often: the caller
// gathers them. It fails when nothing can be watched.
func File(ctx context.Context, path string, changed func()) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	path = abs
	f, err := newFiles(path)
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer f.close()
	f.follow()
	if len(f.watched) == 0 {
		return fmt.Errorf("watch %s: no directory above it can be watched", path)
	}
	for {
		var ev fsnotify.Event
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case ev, ok = <-f.all.events():
		case ev, ok = <-f.dirs.events():
		case _, ok = <-f.all.errors():
			ev.Name = path // events were lost
		case _, ok = <-f.dirs.errors():
			ev.Name = path
		}
		if !ok {
			return nil
		}
		// A lost event (the kernel's queue overflowed) may have been the
		// file's.
		if f.concerns(filepath.Clean(ev.Name)) {
			changed()
			f.follow()
		}
	}
}

// watcher is what files needs of a watch on directories: fsnotify's, or on
// Linux one of names only.
type watcher interface {
	Add(dir string) error
	Remove(dir string) error
	WatchList() []string
	Close() error
	events() <-chan fsnotify.Event
	errors() <-chan error
}

// fsWatcher is fsnotify's watcher, which reports every change of a
// directory's entries: writes to its files included.
type fsWatcher struct{ *fsnotify.Watcher }

func newFSWatcher() (watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return fsWatcher{w}, nil
}

func (w fsWatcher) events() <-chan fsnotify.Event { return w.Events }
func (w fsWatcher) errors() <-chan error          { return w.Errors }

// files is what File watches: path, the file it links to, and the
// directories that hold them and the links on the way to them.
type files struct {
	// all watches the directories that hold path and the file it links
	// to, where a write counts; dirs the others, where only names made,
	// removed or renamed do (fsnotify cannot be told which events to
	// watch: its withOps is unexported).
	all, dirs watcher
	path      string
	names     []string              // path, and the file it links to
	watched   map[string]watchedDir // directories, as they were when watched
}

type watchedDir struct {
	fi  os.FileInfo
	all bool // in files.all, else in files.dirs
}

func newFiles(path string) (*files, error) {
	all, err := newFSWatcher()
	if err != nil {
		return nil, err
	}
	dirs, err := openDirs()
	if err != nil {
		// Out of inotify instances (128 a user, which editors and sync
		// tools spend): all watches those directories too, waking for
		// their files' writes, rather than nothing being watched.
		dirs = all
	}
	return &files{all: all, dirs: dirs, path: path, watched: map[string]watchedDir{}}, nil
}

// openDirs is newDirsWatcher; tests replace it.
var openDirs = newDirsWatcher

func (f *files) close() {
	f.all.Close()
	if f.dirs != f.all {
		f.dirs.Close()
	}
}

func (f *files) watcher(all bool) watcher {
	if all {
		return f.all
	}
	return f.dirs
}

// follow resolves the link anew and watches the directory of each name,
// or the nearest existing one above it, and the directory of each link on
// the way (~/.aws linked to a dotfiles directory: the link may be made to
// point elsewhere), and no other.
func (f *files) follow() {
	f.names = []string{f.path}
	if target, err := filepath.EvalSymlinks(f.path); err == nil && target != f.path {
		f.names = append(f.names, target)
	}
	want := map[string]bool{} // true: writes count
	for _, name := range f.names {
		for dir := filepath.Dir(name); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				if _, ok := want[filepath.Dir(dir)]; !ok {
					want[filepath.Dir(dir)] = false
				}
			}
		}
		for dir := filepath.Dir(name); ; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				want[dir] = want[dir] || dir == filepath.Dir(name)
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	for dir, w := range f.watched {
		if all, ok := want[dir]; !ok || all != w.all {
			f.watcher(w.all).Remove(dir)
			delete(f.watched, dir)
		}
	}
	for dir, all := range want {
		// A directory removed and made again needs a new watch: the
		// kernel dropped the old one with it. So does a directory that
		// a link now names: the watch follows the one it named.
		fi, err := os.Stat(dir)
		w := f.watcher(all)
		if old, ok := f.watched[dir]; err != nil || !ok || !os.SameFile(old.fi, fi) || !alive(w, dir) {
			w.Remove(dir)
			delete(f.watched, dir)
			if err == nil && w.Add(dir) == nil {
				f.watched[dir] = watchedDir{fi, all}
			}
		}
	}
}

// alive reports whether w still watches dir.
func alive(w watcher, dir string) bool {
	for _, d := range w.WatchList() {
		if d == dir {
			return true
		}
	}
	return false
}

// concerns reports whether an event on name may change what path reads:
// an event on path or the file it links to, or on a directory above
// either (made, removed, renamed).
func (f *files) concerns(name string) bool {
	for _, n := range f.names {
		if name == n || strings.HasPrefix(n, name+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
