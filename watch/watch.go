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
// directory is there again. A burst of events calls changed as often: the
// caller gathers them. It fails when nothing can be watched.
func File(ctx context.Context, path string, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	defer w.Close()
	path, err = filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	f := &files{w: w, path: path, watched: map[string]os.FileInfo{}}
	f.follow()
	if len(f.watched) == 0 {
		return fmt.Errorf("watch %s: no directory above it can be watched", path)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if f.concerns(filepath.Clean(ev.Name)) {
				changed()
				f.follow()
			}
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events were lost (the kernel's queue overflowed): one of
			// them may have been the file's.
			changed()
			f.follow()
		}
	}
}

// files is what File watches: path, the file it links to, and the
// directories that hold them and the links on the way to them.
type files struct {
	w       *fsnotify.Watcher
	path    string
	names   []string               // path, and the file it links to
	watched map[string]os.FileInfo // directories, as they were when watched
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
	want := map[string]bool{}
	for _, name := range f.names {
		for dir := filepath.Dir(name); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				want[filepath.Dir(dir)] = true
			}
		}
		for dir := filepath.Dir(name); ; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				want[dir] = true
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	for dir := range f.watched {
		if !want[dir] {
			f.w.Remove(dir)
			delete(f.watched, dir)
		}
	}
	for dir := range want {
		// A directory removed and made again needs a new watch: the
		// kernel dropped the old one with it. So does a directory that
		// a link now names: the watch follows the one it named.
		fi, err := os.Stat(dir)
		if old, ok := f.watched[dir]; err != nil || !ok || !os.SameFile(old, fi) || !f.alive(dir) {
			f.w.Remove(dir)
			delete(f.watched, dir)
			if err == nil && f.w.Add(dir) == nil {
				f.watched[dir] = fi
			}
		}
	}
}

// alive reports whether the watcher still watches dir.
func (f *files) alive(dir string) bool {
	for _, d := range f.w.WatchList() {
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
