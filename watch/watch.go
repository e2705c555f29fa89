// Package watch provides notice of changes to a file as editors make them:
// written in place, replaced by a rename, removed and written again, or
// reached through a symbolic link whose target changes.
package watch

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// File calls changed after changes to the file at path, until ctx ends.
// It watches the directories of path and of the file path links to, since
// an editor that saves by a rename replaces the file a watch on it would
// follow. A burst of events calls changed as often: the caller gathers
// them. It fails when neither directory can be watched (it does not
// exist, say); a directory that cannot be watched later, once the link
// moves, is left out.
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
	var names []string // path and the file it links to
	watched := map[string]bool{}
	follow := func() {
		names = []string{path}
		if target, err := filepath.EvalSymlinks(path); err == nil && target != path {
			names = append(names, target)
		}
		for _, name := range names {
			dir := filepath.Dir(name)
			if !watched[dir] && w.Add(dir) == nil {
				watched[dir] = true
			}
		}
	}
	follow()
	if len(watched) == 0 {
		return fmt.Errorf("watch %s: its directory cannot be watched", path)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			for _, name := range names {
				if filepath.Clean(ev.Name) == name {
					changed()
					follow()
					break
				}
			}
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events were lost (the kernel's queue overflowed): one of
			// them may have been the file's.
			changed()
		}
	}
}
