package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFiles_HomeWritesReachNoWatcher checks that while ~/.aws is missing,
// or is a link, $HOME is watched for names only: a write to another file
// there (a shell's history, at each command) reaches no watcher, where it
// woke the daemon five times for each write; ~/.aws made, or the link
// pointed elsewhere, does.
func TestFiles_HomeWritesReachNoWatcher(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, home string)
		change func(t *testing.T, home string)
	}{
		{"missing", func(*testing.T, string) {}, func(t *testing.T, home string) {
			if err := os.Mkdir(filepath.Join(home, ".aws"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"a link", func(t *testing.T, home string) {
			dotfiles := t.TempDir()
			if err := os.WriteFile(filepath.Join(dotfiles, "config"), []byte("[profile dev]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(dotfiles, filepath.Join(home, ".aws")); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, home string) {
			tmp := filepath.Join(home, ".aws.new")
			if err := os.Symlink(t.TempDir(), tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(home, ".aws")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			history := filepath.Join(home, ".bash_history")
			if err := os.WriteFile(history, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, home)
			f, err := newFiles(filepath.Join(home, ".aws", "config"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.close()
			f.follow()
			if !alive(f.dirs, home) {
				t.Fatalf("$HOME is not watched for names: watched %v", f.watched)
			}
			for range 3 {
				h, err := os.OpenFile(history, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				h.WriteString("ls\n")
				h.Chmod(0o600)
				h.Close()
			}
			select {
			case ev := <-f.all.events():
				t.Fatalf("a write to %s reached a watcher: %v", history, ev)
			case ev := <-f.dirs.events():
				t.Fatalf("a write to %s reached a watcher: %v", history, ev)
			case <-time.After(200 * time.Millisecond):
			}
			tt.change(t, home)
			for {
				select {
				case ev := <-f.dirs.events():
					if ev.Name == filepath.Join(home, ".aws") {
						return
					}
				case <-time.After(10 * time.Second):
					t.Fatal("~/.aws changed, and no event came")
				}
			}
		})
	}
}
