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
	"slices"
	"strings"
	"syscall"
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

// Run runs argv with standard output discarded, in a process group of its
// own: a Ctrl-C in the terminal reaches brokerd alone, which ends the
// command through ctx, so that an interrupted command is always seen as
// interrupted rather than as failing.
func (ExecRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
	// Fail says what the failure means and what to do, before the
	// command's own words; possibly empty (see Command.Fail).
	Fail string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", wire.ShellJoin(e.Argv), e.Err)
	if e.Stderr != "" {
		msg = fmt.Sprintf("%s: %s (%v)", wire.ShellJoin(e.Argv), e.Stderr, e.Err)
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	if e.Fail != "" {
		msg = e.Fail + " [" + msg + "]"
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// Apply carries out p's steps in order with r running the commands, and
// reports each step on progress (nil: nowhere). It stops at the first step
// that fails, other than a command whose failure the plan ignores; a
// failed command's error is a *CommandError. A command with a Retry runs
// again, r sleeping in between, while it fails as the Retry allows.
//
// A plan never half-succeeds: when a step fails, Apply undoes the steps
// done, last first (a command's Undo runs; a file written or removed is
// put back as it was, and the directories made for it are removed if
// empty), then runs p.Restore if a command ran after a file was written.
// Undoing goes on past failures, which it reports on progress and joins
// to the error it returns.
func Apply(ctx context.Context, p Plan, r Runner, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	var done []undo
	wrote, seen := false, false // a file was written; a command ran after
	for _, s := range p.Steps {
		if ctx.Err() != nil { // a Ctrl-C between steps
			return joinLine(errors.New("interrupted"), rollback(ctx, p, done, seen, r, progress))
		}
		seen = seen || wrote && s.Run != nil
		u, err := apply(ctx, s, r, progress)
		if u != nil {
			done = append(done, *u)
		}
		if err != nil {
			return joinLine(err, rollback(ctx, p, done, seen, r, progress))
		}
		wrote = wrote || s.Write != nil
	}
	return nil
}

// undo is how to reverse one step done.
type undo struct {
	argv  []string // a command to run
	path  string   // a file to put back: with prev (or link), or removed when !exist
	prev  []byte
	link  string // the target, when the file was a symbolic link
	mode  fs.FileMode
	exist bool
	dirs  []string // directories made, innermost first, removed if empty
}

// apply carries out s, and says how to undo what it did.
func apply(ctx context.Context, s Step, r Runner, progress io.Writer) (*undo, error) {
	switch {
	case s.Mkdir != "":
		fmt.Fprintf(progress, "mkdir %s\n", s.Mkdir)
		dirs, err := mkdirs(s.Mkdir)
		if err != nil {
			return &undo{dirs: dirs}, fmt.Errorf("create directory: %w", err)
		}
		return &undo{dirs: dirs}, nil
	case s.Write != nil:
		fmt.Fprintf(progress, "write %s\n", s.Write.Path)
		u, err := saved(s.Write.Path)
		if err != nil {
			return nil, err
		}
		u.dirs, err = writeFile(s.Write.Path, s.Write.Mode, s.Write.Content)
		return u, err
	case s.Remove != "":
		u, err := saved(s.Remove)
		if err != nil || !u.exist {
			return nil, err
		}
		fmt.Fprintf(progress, "remove %s\n", s.Remove)
		if err := os.Remove(s.Remove); err != nil {
			return nil, fmt.Errorf("remove installed file: %w", err)
		}
		return u, nil
	case s.Run != nil:
		fmt.Fprintf(progress, "run %s\n", wire.ShellJoin(s.Run.Argv))
		err := runCommand(ctx, r, s.Run, progress)
		if err == nil {
			if s.Run.Undo != nil {
				return &undo{argv: s.Run.Undo}, nil
			}
			return nil, nil
		}
		if !s.Run.IgnoreFailure {
			return nil, err
		}
		fmt.Fprintf(progress, "    failed, which is fine (%s): %v\n", s.Run.Why, err)
		return nil, nil
	}
	return nil, errors.New("empty step in plan")
}

// saved records what is at path now, to put it back.
func saved(path string) (*undo, error) {
	u := &undo{path: path}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s before replacing it: %w", path, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 { // as `systemctl enable` links
		if u.link, err = os.Readlink(path); err != nil {
			return nil, fmt.Errorf("read %s before replacing it: %w", path, err)
		}
		u.exist = true
		return u, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: move it away and try again", path)
	}
	if u.prev, err = os.ReadFile(path); err != nil {
		return nil, fmt.Errorf("read %s before replacing it: %w", path, err)
	}
	u.mode, u.exist = fi.Mode().Perm(), true
	return u, nil
}

// rollback undoes done, last first, then runs p.Restore when restore is
// set. Its commands run even when ctx has ended (a Ctrl-C), each for at
// most a minute.
func rollback(ctx context.Context, p Plan, done []undo, restore bool, r Runner, progress io.Writer) error {
	if len(done) == 0 && !restore {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	runUndo := func(argv []string) {
		fmt.Fprintf(progress, "undo: run %s\n", wire.ShellJoin(argv))
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if stderr, err := r.Run(cctx, argv); err != nil {
			fmt.Fprintf(progress, "    failed, going on: %v\n", &CommandError{Argv: argv, Stderr: oneLine(stderr), Err: err})
		}
	}
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		u := done[i]
		if u.argv != nil {
			runUndo(u.argv)
		}
		if u.path != "" {
			switch {
			case u.exist && u.link != "":
				fmt.Fprintf(progress, "undo: put back %s\n", u.path)
				os.Remove(u.path)
				if err := os.Symlink(u.link, u.path); err != nil {
					errs = append(errs, fmt.Errorf("put back: %w", err)) // err names the path
				}
			case u.exist:
				fmt.Fprintf(progress, "undo: put back %s\n", u.path)
				if _, err := writeFile(u.path, u.mode, u.prev); err != nil {
					errs = append(errs, fmt.Errorf("put back: %w", err)) // err names the path
				}
			default:
				fmt.Fprintf(progress, "undo: remove %s\n", u.path)
				if err := os.Remove(u.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err) // "remove PATH: …"
				}
			}
		}
		for _, d := range u.dirs {
			os.Remove(d) // only when empty: what the user put there stays
		}
	}
	if restore {
		for _, argv := range p.Restore {
			runUndo(argv)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("and undoing the %s failed: %w", p.Name, joinLine(errs...))
	}
	return nil
}

// joinLine is errors.Join on one line: the errors that are not nil, "; "
// between them, as a user's error is one line.
func joinLine(errs ...error) error {
	var l lineErrors
	for _, err := range errs {
		if err != nil {
			l = append(l, err)
		}
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

type lineErrors []error

func (l lineErrors) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l lineErrors) Unwrap() []error { return l }

// runCommand runs c with r, again while it fails as c.Retry allows. Its
// error is a *CommandError, wrapped when r's sleep fails.
func runCommand(ctx context.Context, r Runner, c *Command, progress io.Writer) error {
	var waited time.Duration
	for {
		stderr, err := r.Run(ctx, c.Argv)
		if err == nil {
			return nil
		}
		cerr := &CommandError{Argv: c.Argv, Stderr: oneLine(stderr), Err: err, Fail: c.Fail}
		if ctx.Err() != nil { // killed for a Ctrl-C: not what Fail says
			cerr.Fail = "interrupted"
			return cerr
		}
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

// mkdirs creates dir and its missing parents 0700, and returns the
// directories it created, innermost first, also when it fails.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			slices.Reverse(made)
			return made, err
		}
		made = append(made, missing[i])
	}
	slices.Reverse(made)
	return made, nil
}

// writeFile replaces path with content and mode, atomically, creating
// missing parent directories 0700; it returns the directories it created,
// innermost first.
func writeFile(path string, mode fs.FileMode, content []byte) (dirs []string, err error) {
	dir := filepath.Dir(path)
	dirs, err = mkdirs(dir)
	if err != nil {
		return dirs, fmt.Errorf("create directory for %s: %w", filepath.Base(path), err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return dirs, fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return dirs, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(content); err != nil {
		return dirs, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return dirs, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return dirs, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return dirs, fmt.Errorf("write %s: %w", path, err)
	}
	return dirs, nil
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
