package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/brokerd/brokerd/wire"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs a plan's commands, and waits between tries of one.
type Runner interface {
	// Run runs argv and returns what it wrote to standard error. An error
	// with an ExitCode method, as *exec.ExitError, gives the exit status.
	Run(ctx context.Context, argv []string) (stderr []byte, err error)
	// Sleep waits for d, or returns ctx's error should it end first.
	Sleep(ctx context.Context, d time.Duration) error
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

// Sleep waits for d with a timer.
func (ExecRunner) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CommandError is a command of a plan that failed.
type CommandError struct {
	Argv   []string
	Stderr string // its standard error on one line, possibly empty
	Err    error
	Hint   string // what to do about it, possibly empty
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", wire.ShellJoin(e.Argv), e.Err)
	if e.Stderr != "" {
		msg = fmt.Sprintf("%s: %s (%v)", wire.ShellJoin(e.Argv), e.Stderr, e.Err)
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// Apply carries out p's steps in order with r running the commands, and
// reports each step on progress (nil: nowhere). It stops at the first step
// that fails, other than a command whose failure the plan ignores; a
// failed command's error is a *CommandError. A command with a Retry runs
// again, r sleeping in between, while it fails as the Retry allows.
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
			fmt.Fprintf(progress, "run %s\n", wire.ShellJoin(s.Run.Argv))
			err := runCommand(ctx, r, s.Run, progress)
			if err == nil {
				continue
			}
			if !s.Run.IgnoreFailure {
				return err
			}
			fmt.Fprintf(progress, "    failed, which is fine (%s): %v\n", s.Run.Why, err)
		default:
			return errors.New("empty step in plan")
		}
	}
	return nil
}

// runCommand runs c with r, again while it fails as c.Retry allows. Its
// error is a *CommandError, wrapped when r's sleep fails.
func runCommand(ctx context.Context, r Runner, c *Command, progress io.Writer) error {
	var waited time.Duration
	for {
		stderr, err := r.Run(ctx, c.Argv)
		if err == nil {
			return nil
		}
		cerr := &CommandError{Argv: c.Argv, Stderr: oneLine(stderr), Err: err}
		if c.Retry == nil || exitStatus(err) != c.Retry.Status {
			return cerr
		}
		if waited >= c.Retry.For || c.Retry.Every <= 0 {
			cerr.Hint = fmt.Sprintf("still failing after %s of retries: %s", c.Retry.For, c.Retry.Hint)
			return cerr
		}
		if waited == 0 {
			fmt.Fprintf(progress, "    failed with exit status %d (%s): trying again every %s for up to %s\n", c.Retry.Status, c.Retry.Why, c.Retry.Every, c.Retry.For)
		}
		if err := r.Sleep(ctx, c.Retry.Every); err != nil {
			return fmt.Errorf("%w; stopped retrying: %w", cerr, err)
		}
		waited += c.Retry.Every
	}
}

// exitStatus is the exit status err carries, or -1.
func exitStatus(err error) int {
	var e interface{ ExitCode() int }
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return -1
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
