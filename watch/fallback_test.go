package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFiles_NoInotifyForNames checks that when the watch of names only
// cannot be had (inotify_init1: EMFILE, the user's 128 instances spent by
// editors and sync tools), the directories are watched by the other
// watcher, writes and all, rather than the config file not at all.
func TestFiles_NoInotifyForNames(t *testing.T) {
	old := openDirs
	openDirs = func() (watcher, error) { return nil, fmt.Errorf("inotify_init1: %w", syscall.EMFILE) }
	defer func() { openDirs = old }()
	home := t.TempDir()
	f, err := newFiles(filepath.Join(home, ".aws", "config"))
	if err != nil {
		t.Fatalf("newFiles() without an inotify for names = %v, want the other watcher to serve", err)
	}
	defer f.close()
	f.follow()
	if !alive(f.dirs, home) {
		t.Fatalf("$HOME is not watched: watched %v", f.watched)
	}
	if err := os.Mkdir(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-f.dirs.events():
			if ev.Name == filepath.Join(home, ".aws") {
				return
			}
		case err := <-f.dirs.errors():
			t.Fatal(err)
		case <-time.After(10 * time.Second): // a bound on a failing test
			t.Fatal("~/.aws made, and no event came")
		}
	}
}
