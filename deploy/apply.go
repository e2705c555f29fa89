package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Runner runs a plan's commands.
type Runner interface {
	// Run runs argv and returns what it wrote to standard error.
	Run(ctx context.Context, argv []string) (stderr []byte, err error)
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct{}

var _ Runner = ExecRunner{}

// Run runs argv with standard output discarded.
func (ExecRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.Bytes(), err
}

// CommandError is a command of a plan that failed.
type CommandError struct {
	Argv   []string
	Stderr string // its standard error on one line, possibly empty
	Err    error
}

func (e *CommandError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", shellJoin(e.Argv), e.Err)
	}
	return fmt.Sprintf("%s: %s (%v)", shellJoin(e.Argv), e.Stderr, e.Err)
}

func (e *CommandError) Unwrap() error { return e.Err }

// Apply carries out p's steps in order with r running the commands, and
// reports each step on progress (nil: nowhere). It stops at the first step
// that fails, other than a command whose failure the plan ignores; a
// failed command's error is a *CommandError.
func Apply(ctx context.Context, p Plan, r Runner, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	for _, s := range p.Steps {
		switch {
		case s.Mkdir != "":
			fmt.Fprintf(progress, "mkdir %s\n", s.Mkdir)
			if err := os.MkdirAll(s.Mkdir, 0o700); err != nil {
				return fmt.Errorf("create directory: %w", err)
			}
		case s.Write != nil:
			fmt.Fprintf(progress, "write %s\n", s.Write.Path)
			if err := writeFile(s.Write.Path, s.Write.Mode, s.Write.Content); err != nil {
				return err
			}
		case s.Remove != "":
			err := os.Remove(s.Remove)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			fmt.Fprintf(progress, "remove %s\n", s.Remove)
			if err != nil {
				return fmt.Errorf("remove installed file: %w", err)
			}
		case s.Run != nil:
			fmt.Fprintf(progress, "run %s\n", shellJoin(s.Run.Argv))
			stderr, err := r.Run(ctx, s.Run.Argv)
			if err == nil {
				continue
			}
			cerr := &CommandError{Argv: s.Run.Argv, Stderr: oneLine(stderr), Err: err}
			if !s.Run.IgnoreFailure {
				return cerr
			}
			fmt.Fprintf(progress, "    failed, which is fine (%s): %v\n", s.Run.Why, cerr)
		default:
			return errors.New("empty step in plan")
		}
	}
	return nil
}

// writeFile replaces path with content and mode, atomically, creating
// missing parent directories 0700.
func writeFile(path string, mode fs.FileMode, content []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", filepath.Base(path), err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// oneLine joins the non-blank lines of b with "; ".
func oneLine(b []byte) string {
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
