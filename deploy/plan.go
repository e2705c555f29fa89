package deploy

import (
	"context"
	"fmt"
	"github.com/brokerd/brokerd/wire"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// File is a file to write.
type File struct {
	Path    string
	Mode    fs.FileMode
	Content []byte
}

// Command is a command to run.
type Command struct {
	Argv []string
	// IgnoreFailure means a failure does not stop the plan, as when a job
	// to unload is not loaded; Why says why that is fine.
	IgnoreFailure bool
	Why           string
	Retry         *Retry // nil: run once
	// Fail, when set, says what a failure means and what to do; the
	// error shows it first, the command's own words after it.
	Fail string
	// Undo is the command that reverses this one when a later step fails
	// (see Apply); nil means nothing to reverse.
	Undo []string
}

// Retry says to run a command again while it fails with an exit status
// that time cures.
type Retry struct {
	Status int           // the exit status that means try again
	Every  time.Duration // the wait between tries
	For    time.Duration // how long to keep trying
	Why    string        // why that status passes
	Hint   string        // what to do should the command still fail, on one line
}

// Step is one thing a Plan does: exactly one of its fields is set.
type Step struct {
	Mkdir  string   // create this directory and missing parents, 0700
	Write  *File    // write the file atomically, creating missing parents 0700
	Remove string   // remove this file; a missing one is fine
	Run    *Command // run the command
}

// Plan is what install or uninstall does, in order, then tells the user.
type Plan struct {
	Name  string // "install" or "uninstall"
	GOOS  string
	Steps []Step
	Notes []string // lines to print once the plan is done
	// Restore are the commands that end the undoing of a failed plan,
	// after the files it wrote were put back (see Apply); their failures
	// are ignored.
	Restore [][]string
}

// Files are the files the plan writes.
func (p Plan) Files() []File {
	var out []File
	for _, s := range p.Steps {
		if s.Write != nil {
			out = append(out, *s.Write)
		}
	}
	return out
}

// Commands are the commands the plan runs.
func (p Plan) Commands() []Command {
	var out []Command
	for _, s := range p.Steps {
		if s.Run != nil {
			out = append(out, *s.Run)
		}
	}
	return out
}

// run is a command whose failure stops the plan.
func run(argv ...string) Step { return Step{Run: &Command{Argv: argv}} }

// mayFail is a command whose failure is fine, for the reason why.
func mayFail(why string, argv ...string) Step {
	return Step{Run: &Command{Argv: argv, IgnoreFailure: true, Why: why}}
}

// retry is a command run again as r says.
func retry(r Retry, argv ...string) Step { return Step{Run: &Command{Argv: argv, Retry: &r}} }

// Install plans the installation of the user service for o.GOOS.
func Install(o Options) (Plan, error) {
	if err := o.check(); err != nil {
		return Plan{}, err
	}
	rc := rcLine(o)
	exported := wire.VarURL + " and " + wire.VarTokenFile
	if o.DefaultProfile != "" {
		exported = wire.VarURL + ", " + wire.VarTokenFile + ", " + wire.VarProfile + "=" + o.DefaultProfile
	}
	if o.Region != "" {
		exported += ", and " + wire.VarRegion + " and " + wire.VarDefRegion + "=" + o.Region + " where no region is set"
	}
	p := Plan{Name: "install", GOOS: o.GOOS}
	switch o.GOOS {
	case "linux":
		unit, err := SystemdUnit(o)
		if err != nil {
			return Plan{}, err
		}
		env, err := EnvironmentFile(o)
		if err != nil {
			return Plan{}, err
		}
		check := Step{Run: preflight(o)}
		enable := run("systemctl", "--user", "enable", Unit)
		if !o.Reinstall {
			enable.Run.Undo = []string{"systemctl", "--user", "disable", "--now", Unit}
		}
		// restart, not start: a re-install runs the new binary and unit.
		restart := run("systemctl", "--user", "restart", Unit)
		restart.Run.Fail = Unit + " did not start, so the install was undone: see why with `journalctl --user -u brokerd -n 20`"
		p.Steps = []Step{
			check,
			{Write: &File{Path: o.unitPath(), Mode: 0o644, Content: unit}},
			// daemon-reload runs the environment.d generator, which gives
			// the manager (and the sessions it starts) the variables.
			{Write: &File{Path: o.envPath(), Mode: 0o644, Content: env}},
			run("systemctl", "--user", "daemon-reload"),
			enable,
			restart,
		}
		p.Restore = [][]string{{"systemctl", "--user", "daemon-reload"}}
		if o.Reinstall {
			p.Restore = append(p.Restore, []string{"systemctl", "--user", "restart", Unit})
		}
		p.Notes = []string{
			"brokerd runs as the systemd user service " + Unit + " (`systemctl --user status brokerd`, `journalctl --user -u brokerd`).",
			"Programs your user manager starts from now on, and desktop sessions that read " + o.envPath() + ",",
			"get " + exported + ".",
			"For login shells that do not read environment.d (a console, ssh), add this line to your shell's rc file (~/.bashrc, ~/.zshrc;",
			"for fish, " + fishLine(o) + " to ~/.config/fish/config.fish):",
			"",
			"    " + rc,
		}
	case "darwin":
		plist, err := LaunchdPlist(o)
		if err != nil {
			return Plan{}, err
		}
		bootstrap := []string{"launchctl", "bootstrap", o.launchdDomain(), o.plistPath()}
		check := Step{Run: preflight(o)}
		if o.Reinstall {
			p.Restore = [][]string{bootstrap}
		}
		p.Steps = []Step{
			check,
			{Mkdir: o.logDir()},
			{Write: &File{Path: o.plistPath(), Mode: 0o644, Content: plist}},
			mayFail("not loaded yet", "launchctl", "bootout", o.launchdDomain()+"/"+Label),
			// A job once disabled with `launchctl disable` stays disabled
			// across bootstraps until enabled.
			run("launchctl", "enable", o.launchdDomain()+"/"+Label),
			// bootout returns before launchd has removed a running job
			// (brokerd drains for up to 5s), and bootstrap fails with
			// "Bootstrap failed: 5: Input/output error" until it has.
			retry(Retry{
				Status: 5, Every: 500 * time.Millisecond, For: 15 * time.Second,
				Why:  "the agent booted out is still stopping",
				Hint: "run `" + o.Command("install") + "` again, or `" + wire.ShellJoin(bootstrap) + "` yourself",
			}, bootstrap...),
		}
		p.Notes = []string{
			"brokerd runs as the LaunchAgent " + Label + " (`launchctl print " + o.launchdDomain() + "/" + Label + "`),",
			"logging to " + filepath.Join(o.logDir(), LogFile) + ".",
			"Apps started from now on get " + exported + " (the daemon sets them with launchctl setenv at each start).",
			"For login shells, add this line to your shell's rc file (~/.zshrc, ~/.bash_profile;",
			"for fish, " + fishLine(o) + " to ~/.config/fish/config.fish):",
			"",
			"    " + rc,
		}
	}
	return p, nil
}

// preflight is the command that finds out, before anything is written,
// whether there is a service manager to install into: without a user
// manager every systemctl --user fails, and over ssh without a desktop
// login there is no launchd GUI domain to bootstrap into. What it advises
// running carries the options install was given (see Options.Command).
func preflight(o Options) *Command {
	serve, install := o.Command("serve"), o.Command("install")
	if o.GOOS == "darwin" {
		return &Command{Argv: []string{"launchctl", "print", o.launchdDomain()},
			Fail: "no launchd GUI session (" + o.launchdDomain() + ") for this login, so nothing was installed: " +
				"log in to the desktop and run `" + install + "` there, or run `" + serve + "` in a terminal instead"}
	}
	return &Command{Argv: []string{"systemctl", "--user", "show-environment"},
		Fail: "no systemd user manager runs for this login, so nothing was installed: run `" + serve + "` in a terminal instead, " +
			"or start a user manager with `loginctl enable-linger $USER` (then log in again) and run `" + install + "` again"}
}

// Preflight runs with r the check that install's plan starts with (see
// Install), so that a caller can refuse before asking anything else.
// Its error is a *CommandError that says what to do.
func Preflight(ctx context.Context, o Options, r Runner) error {
	if err := o.checkUninstall(); err != nil {
		return err
	}
	return runCommand(ctx, r, preflight(o), io.Discard)
}

// Uninstall plans the removal of everything Install sets up. Every step
// succeeds when there is nothing to remove, so it can run any number of
// times.
func Uninstall(o Options) (Plan, error) {
	if err := o.checkUninstall(); err != nil {
		return Plan{}, err
	}
	p := Plan{Name: "uninstall", GOOS: o.GOOS}
	switch o.GOOS {
	case "linux":
		p.Steps = []Step{
			mayFail("nothing to disable", "systemctl", "--user", "disable", "--now", Unit),
			// What `enable` links, should disable have failed for want of
			// a user manager.
			{Remove: o.wantsPath()},
			{Remove: o.unitPath()},
			{Remove: o.envPath()},
			mayFail("no user manager to reload", "systemctl", "--user", "daemon-reload"),
			// A desktop session imports what environment.d gave it into
			// the manager (dbus-update-activation-environment --systemd),
			// where daemon-reload leaves it. The region stays, as the
			// user's cannot be told from brokerd's there.
			mayFail("no user manager to tell", "systemctl", "--user", "unset-environment", wire.VarURL, wire.VarTokenFile, wire.VarProfile),
		}
	case "darwin":
		p.Steps = []Step{
			mayFail("not loaded", "launchctl", "bootout", o.launchdDomain()+"/"+Label),
			{Remove: o.plistPath()},
			mayFail("not set", "launchctl", "unsetenv", wire.VarURL),
			mayFail("not set", "launchctl", "unsetenv", wire.VarTokenFile),
			// AWS_REGION and AWS_DEFAULT_REGION stay, and BROKERD_REGION
			// that says whether they are brokerd's: whether they still
			// are is known only when brokerd runs (an install again
			// replaces them then); all go at logout.
			mayFail("not set", "launchctl", "unsetenv", wire.VarProfile),
		}
	}
	p.Notes = []string{
		"brokerd is no longer a user service; programs already running keep the variables they have.",
		"If a shell rc file has the line " + `eval "$(brokerd env)"` + " (fish: brokerd env --shell fish | source), remove it.",
	}
	if o.GOOS == "darwin" {
		p.Notes = append(p.Notes, "Its logs are kept in "+o.logDir()+".")
	}
	return p, nil
}

// rcLine is the line for shell rc files.
func rcLine(o Options) string {
	return `eval "$(` + o.bin() + ` env)"`
}

// fishLine is rcLine for fish, whose eval and $(…) are not bash's.
func fishLine(o Options) string {
	return o.bin() + " env --shell fish | source"
}

// Format writes the plan as --dry-run shows it: each file with its path,
// mode and full content (indented), each command as a shell would take it,
// then the notes.
func (p Plan) Format(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# brokerd %s --dry-run (%s): what it would do, in order; nothing has been done.\n\n", p.Name, p.GOOS)
	prevWrite := true // no blank line needed after the heading
	for _, s := range p.Steps {
		if s.Write != nil && !prevWrite {
			b.WriteString("\n") // a blank line around each file's content
		}
		prevWrite = s.Write != nil
		switch {
		case s.Mkdir != "":
			fmt.Fprintf(&b, "mkdir %s (mode 0700 where new)\n", wire.ShellQuote(s.Mkdir))
		case s.Write != nil:
			fmt.Fprintf(&b, "write %s (mode %04o; new parent directories 0700):\n", wire.ShellQuote(s.Write.Path), s.Write.Mode.Perm())
			for _, line := range strings.SplitAfter(string(s.Write.Content), "\n") {
				if line == "" {
					continue
				}
				if line != "\n" {
					b.WriteString("    ")
				}
				b.WriteString(line)
			}
			if !strings.HasSuffix(string(s.Write.Content), "\n") {
				b.WriteString("\n    (no newline at end of file)\n")
			}
			b.WriteString("\n")
		case s.Remove != "":
			fmt.Fprintf(&b, "remove %s (if present)\n", wire.ShellQuote(s.Remove))
		case s.Run != nil:
			fmt.Fprintf(&b, "run %s", wire.ShellJoin(s.Run.Argv))
			if s.Run.IgnoreFailure {
				fmt.Fprintf(&b, "  # a failure is fine: %s", s.Run.Why)
			}
			if r := s.Run.Retry; r != nil {
				fmt.Fprintf(&b, "  # retried every %s for up to %s while it fails with exit status %d: %s", r.Every, r.For, r.Status, r.Why)
			}
			if s.Run.Undo != nil {
				fmt.Fprintf(&b, "  # undone by %s should a later step fail", wire.ShellJoin(s.Run.Undo))
			}
			b.WriteString("\n")
		}
	}
	if !prevWrite {
		b.WriteString("\n")
	}
	if p.Name == "install" {
		b.WriteString("Should a step fail, what was done is undone: each file written is put back as it was (or removed)")
		for i, argv := range p.Restore {
			sep := ", then"
			if i > 0 {
				sep = " and"
			}
			fmt.Fprintf(&b, "%s %s runs", sep, wire.ShellJoin(argv))
		}
		b.WriteString(".\n\n")
	}
	for _, n := range p.Notes {
		b.WriteString(n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
