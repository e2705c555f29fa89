package watch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/brokerd/brokerd/watch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watching starts File on path; the channel receives a value for each
// call of changed.
func watching(t *testing.T, path string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- watch.File(ctx, path, func() { calls <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("File = %v, want nil once ctx ends", err)
		}
	})
	// File has its watches once it is waiting for events; a change made
	// before that could be missed, so make changes until one is seen.
	write(t, path, "[profile dev]\n")
	for {
		select {
		case <-calls:
			drain(calls)
			return calls
		case <-time.After(10 * time.Millisecond):
			write(t, path, "[profile dev]\n")
		}
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// drain empties calls of what is already there and what follows within a
// short while: the events of one change.
func drain(calls <-chan struct{}) {
	for {
		select {
		case <-calls:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// seen waits for a call of changed; the bound only ends a failing test.
func seen(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
		drain(calls)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: changed was not called", what)
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"written in place", func(t *testing.T, path string) { write(t, path, "[profile prod]\n") }},
		{"replaced by a rename", func(t *testing.T, path string) {
			tmp := path + ".swp"
			write(t, tmp, "[profile prod]\n")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed", func(t *testing.T, path string) { os.Remove(path) }},
		{"made unreadable", func(t *testing.T, path string) { os.Chmod(path, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			calls := watching(t, path)
			tt.change(t, path)
			seen(t, calls, tt.name)
			// And again: the watch outlives a rename or a removal.
			write(t, path, "[profile again]\n")
			seen(t, calls, tt.name+", then written again")
		})
	}
}

// A config file that is a link (dotfiles kept in a repository) is watched
// where it points, and where it points after the link changes.
func TestFile_Symlink(t *testing.T) {
	home, dotfiles, other := t.TempDir(), t.TempDir(), t.TempDir()
	target := filepath.Join(dotfiles, "aws-config")
	write(t, target, "[profile dev]\n")
	path := filepath.Join(home, "config")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	calls := watching(t, path)
	write(t, target, "[profile prod]\n")
	seen(t, calls, "the link's target written")

	moved := filepath.Join(other, "aws-config")
	write(t, moved, "[profile staging]\n")
	tmp := path + ".new"
	if err := os.Symlink(moved, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	seen(t, calls, "the link pointed elsewhere")
	write(t, moved, "[profile ops]\n")
	seen(t, calls, "the new target written")
}

// A directory reached through a link (~/.aws linked to a dotfiles
// directory, as GNU stow makes it) is followed when the link is made to
// point elsewhere; the directory it named before no longer counts.
func TestFile_LinkedDirectory(t *testing.T) {
	home, dotfiles, other := t.TempDir(), t.TempDir(), t.TempDir()
	link := filepath.Join(home, ".aws")
	if err := os.Symlink(dotfiles, link); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(link, "config")
	calls := watching(t, path)
	write(t, path, "[profile prod]\n")
	seen(t, calls, "the file written through the link")

	write(t, filepath.Join(other, "config"), "[profile staging]\n")
	tmp := filepath.Join(home, ".aws.new")
	if err := os.Symlink(other, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	seen(t, calls, "the link pointed elsewhere")
	write(t, path, "[profile ops]\n")
	seen(t, calls, "the file written in the directory the link names now")
	write(t, filepath.Join(dotfiles, "config"), "[profile old]\n")
	select {
	case <-calls:
		t.Error("a write in the directory the link named before called changed")
	case <-time.After(200 * time.Millisecond):
	}
}

// Other files in the directory, such as the CLI's credentials file, do
// not count.
func TestFile_OtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	calls := watching(t, path)
	write(t, filepath.Join(filepath.Dir(path), "credentials"), "[dev]\n")
	select {
	case <-calls:
		t.Error("a write of another file in the directory called changed")
	case <-time.After(200 * time.Millisecond):
	}
}

// A directory that does not exist yet (no ~/.aws), or that is removed and
// made again, is watched from the nearest directory above it until it is
// there.
func TestFile_DirectoryComesAndGoes(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, ".aws")
	path := filepath.Join(dir, "config")
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- watch.File(ctx, path, func() { calls <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("File = %v, want nil once ctx ends", err)
		}
	}()
	// Made until seen: the watch may not be in place at first.
	for seenOne := false; !seenOne; {
		os.MkdirAll(dir, 0o700)
		write(t, path, "[profile dev]\n")
		select {
		case <-calls:
			seenOne = true
			drain(calls)
		case <-time.After(10 * time.Millisecond):
			os.RemoveAll(dir)
		}
	}
	write(t, path, "[profile prod]\n")
	seen(t, calls, "the file written in the directory made since")

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	seen(t, calls, "the directory removed")
	os.MkdirAll(dir, 0o700)
	write(t, path, "[profile again]\n")
	seen(t, calls, "the file written in the directory made again")
	write(t, path, "[profile once more]\n")
	seen(t, calls, "the file written again in the directory made again")
}
