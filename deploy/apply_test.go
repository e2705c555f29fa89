package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeRunner records the commands it is given and fails those in fail
// (keyed by argv joined with spaces), or every one when failAll is set.
// A command in exits exits with each status in turn, the last for good
// (0 is success). Sleeps are recorded, not slept.
type fakeRunner struct {
	ran     [][]string
	fail    map[string]string // argv → stderr
	failAll bool
	exits   map[string][]int // argv → exit statuses of successive runs
	slept   []time.Duration
}

var _ Runner = (*fakeRunner)(nil)

func (r *fakeRunner) Run(_ context.Context, argv []string) ([]byte, error) {
	r.ran = append(r.ran, argv)
	key := strings.Join(argv, " ")
	if stderr, ok := r.fail[key]; ok || r.failAll {
		return []byte(stderr), errors.New("exit status 1")
	}
	if statuses, ok := r.exits[key]; ok {
		status := statuses[0]
		if len(statuses) > 1 {
			r.exits[key] = statuses[1:]
		}
		if status != 0 {
			return []byte(fmt.Sprintf("Bootstrap failed: %d: Input/output error\n", status)), exitError(status)
		}
	}
	return nil, nil
}

func (r *fakeRunner) Sleep(_ context.Context, d time.Duration) error {
	r.slept = append(r.slept, d)
	return nil
}

// exitError is a command's exit status, as *exec.ExitError gives it.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitError) ExitCode() int { return int(e) }

// tree lists the files and directories under root with their modes, as
// "rel mode" lines, sorted.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, rel+" "+fi.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestApply_install applies each install plan twice into a temporary home:
// the files land with their modes, new parent directories are 0700 (an
// existing one keeps its mode), the commands run in the plan's order, and
// a second install leaves the same tree and no temporary files.
func TestApply_install(t *testing.T) {
	for _, tc := range []struct {
		goos     string
		existing string // a directory the user already has, mode 0755
		tree     []string
	}{
		{"linux", ".config", []string{
			".config drwxr-xr-x",
			".config/environment.d drwx------",
			".config/environment.d/60-brokerd.conf -rw-r--r--",
			".config/systemd drwx------",
			".config/systemd/user drwx------",
			".config/systemd/user/brokerd.service -rw-r--r--",
		}},
		{"darwin", "Library", []string{
			"Library drwxr-xr-x",
			"Library/LaunchAgents drwx------",
			"Library/LaunchAgents/com.brokerd.agent.plist -rw-r--r--",
			"Library/Logs drwx------",
			"Library/Logs/brokerd drwx------",
		}},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			home := t.TempDir()
			if err := os.Mkdir(filepath.Join(home, tc.existing), 0o755); err != nil {
				t.Fatal(err)
			}
			o := Options{GOOS: tc.goos, Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd"}
			p, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				r := &fakeRunner{fail: map[string]string{"launchctl bootout gui/1000/com.brokerd.agent": "Boot-out failed: 3: No such process"}}
				var progress bytes.Buffer
				if err := Apply(context.Background(), p, r, &progress); err != nil {
					t.Fatalf("Apply(install %s) = %v", tc.goos, err)
				}
				if !reflect.DeepEqual(r.ran, argvs(p.Commands())) {
					t.Errorf("Apply(install %s) ran %q, want %q", tc.goos, r.ran, argvs(p.Commands()))
				}
				if got := tree(t, home); !reflect.DeepEqual(got, tc.tree) {
					t.Errorf("after install %d: home holds\n%s\nwant\n%s", i+1, strings.Join(got, "\n"), strings.Join(tc.tree, "\n"))
				}
				if tc.goos == "darwin" && !strings.Contains(progress.String(), "failed, which is fine (not loaded yet)") {
					t.Errorf("progress = %q, want the ignored bootout failure reported", progress.String())
				}
			}
			for _, f := range p.Files() {
				got, err := os.ReadFile(f.Path)
				if err != nil || !bytes.Equal(got, f.Content) {
					t.Errorf("%s holds %q, %v, want the planned content", f.Path, got, err)
				}
			}
		})
	}
}

// TestApply_stops checks that the first failing command stops the plan
// with a one-line error naming the command and its standard error.
func TestApply_stops(t *testing.T) {
	home := t.TempDir()
	o := Options{GOOS: "linux", Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd"}
	p, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{fail: map[string]string{"systemctl --user enable brokerd.service": "Failed to connect to bus:\n  No medium found\n"}}
	err = Apply(context.Background(), p, r, nil)
	var cerr *CommandError
	if !errors.As(err, &cerr) {
		t.Fatalf("Apply = %v, want a *CommandError", err)
	}
	want := "systemctl --user enable brokerd.service: Failed to connect to bus:; No medium found (exit status 1)"
	if err.Error() != want {
		t.Errorf("Apply = %q, want %q", err, want)
	}
	wantRan := [][]string{
		{"systemctl", "--user", "show-environment"},
		{"systemctl", "--user", "daemon-reload"},
		{"systemctl", "--user", "enable", "brokerd.service"},
		{"systemctl", "--user", "daemon-reload"}, // after the files were removed
	}
	if !reflect.DeepEqual(r.ran, wantRan) {
		t.Errorf("Apply ran %q, want %q and no more", r.ran, wantRan)
	}
	if got := tree(t, home); len(got) != 0 {
		t.Errorf("after a failed install, home holds %q, want nothing", got)
	}
}

// TestApply_bootstrapRetry checks that a macOS install retries bootstrap
// while launchd still removes the agent booted out (exit status 5), and
// gives up at once on another status, or after 15s with what to do.
func TestApply_bootstrapRetry(t *testing.T) {
	home := t.TempDir()
	o := Options{GOOS: "darwin", Binary: "/usr/local/bin/brokerd", Home: home, UID: 501, StateDir: "/Users/ana/Library/Application Support/brokerd",
		Listen: "127.0.0.1:9922", DefaultProfile: "prod"}
	p, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := "launchctl bootstrap gui/501 " + o.plistPath()
	for _, tc := range []struct {
		name     string
		exits    []int
		runs     int      // bootstrap runs
		wantErr  []string // in the error; nil: no error
		wantHint bool
	}{
		{"succeeds after two status 5", []int{5, 5, 0}, 3, nil, false},
		{"another status", []int{37}, 1, []string{bootstrap, "Bootstrap failed: 37", "(exit status 37)"}, false},
		{"keeps failing", []int{5}, 31, []string{bootstrap, "(exit status 5)", "after 15s", "run `/usr/local/bin/brokerd install --listen 127.0.0.1:9922 --default-profile prod` again, or `" + bootstrap + "` yourself"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{exits: map[string][]int{bootstrap: tc.exits}}
			var progress bytes.Buffer
			err := Apply(context.Background(), p, r, &progress)
			runs := 0
			for _, argv := range r.ran {
				if strings.Join(argv, " ") == bootstrap {
					runs++
				}
			}
			if runs != tc.runs || len(r.slept) != runs-1 {
				t.Errorf("Apply ran bootstrap %d times with %d sleeps, want %d and %d", runs, len(r.slept), tc.runs, tc.runs-1)
			}
			for _, d := range r.slept {
				if d != 500*time.Millisecond {
					t.Errorf("Apply slept %v, want 500ms", d)
				}
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Errorf("Apply(install) = %v, want nil", err)
				}
				if !strings.Contains(progress.String(), "trying again every 500ms for up to 15s") {
					t.Errorf("progress = %q, want the retries reported", progress.String())
				}
				return
			}
			var cerr *CommandError
			if !errors.As(err, &cerr) {
				t.Fatalf("Apply(install) = %v, want a *CommandError", err)
			}
			if (cerr.Hint != "") != tc.wantHint || strings.Contains(err.Error(), "\n") {
				t.Errorf("Apply(install) = %q, want one line, with a hint: %v", err, tc.wantHint)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Apply(install) = %q, want %q in it", err, s)
				}
			}
		})
	}
}

// TestExecRunner_Sleep checks that a sleep ends with its context.
func TestExecRunner_Sleep(t *testing.T) {
	if err := (ExecRunner{}).Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep(1ms) = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (ExecRunner{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(1h) with a canceled context = %v, want context.Canceled", err)
	}
}

// TestApply_stopsAtWrite checks that a file that cannot be written stops
// the plan before any command runs.
func TestApply_stopsAtWrite(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".config"), nil, 0o600); err != nil { // a file where a directory must go
		t.Fatal(err)
	}
	p, err := Install(Options{GOOS: "linux", Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd"})
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{}
	if err := Apply(context.Background(), p, r, nil); err == nil {
		t.Fatal("Apply = nil, want an error")
	}
	if want := [][]string{{"systemctl", "--user", "show-environment"}}; !reflect.DeepEqual(r.ran, want) {
		t.Errorf("Apply ran %q after a failed write, want only the check before it %q", r.ran, want)
	}
}

// TestApply_uninstall checks that uninstall removes what install wrote,
// and that uninstalling nothing (every command failing, no files) succeeds
// and creates nothing, any number of times.
func TestApply_uninstall(t *testing.T) {
	for _, goos := range []string{"linux", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			home := t.TempDir()
			o := Options{GOOS: goos, Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd"}
			in, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			un, err := Uninstall(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := Apply(context.Background(), in, &fakeRunner{}, nil); err != nil {
				t.Fatal(err)
			}
			if goos == "linux" { // what a real `systemctl --user enable` links
				if err := os.MkdirAll(filepath.Dir(o.wantsPath()), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(o.unitPath(), o.wantsPath()); err != nil {
					t.Fatal(err)
				}
			}
			r := &fakeRunner{}
			if err := Apply(context.Background(), un, r, nil); err != nil {
				t.Fatalf("Apply(uninstall) = %v", err)
			}
			if !reflect.DeepEqual(r.ran, argvs(un.Commands())) {
				t.Errorf("Apply(uninstall) ran %q, want %q", r.ran, argvs(un.Commands()))
			}
			for _, f := range append(in.Files(), File{Path: o.wantsPath()}) {
				if _, err := os.Lstat(f.Path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("after uninstall, stat %s = %v, want not found", f.Path, err)
				}
			}

			empty := t.TempDir()
			o.Home = empty
			un, err = Uninstall(o)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				r := &fakeRunner{failAll: true}
				if err := Apply(context.Background(), un, r, nil); err != nil {
					t.Errorf("Apply(uninstall of nothing) = %v, want nil", err)
				}
				if len(r.ran) != len(un.Commands()) {
					t.Errorf("Apply(uninstall of nothing) ran %q, want every command", r.ran)
				}
			}
			if got := tree(t, empty); len(got) != 0 {
				t.Errorf("uninstall of nothing created %q", got)
			}
		})
	}
}

// TestExecRunner runs a real command through Apply.
func TestExecRunner(t *testing.T) {
	p := Plan{Steps: []Step{
		run("sh", "-c", "exit 0"),
		mayFail("testing", "sh", "-c", "exit 2"),
		run("sh", "-c", "echo 'line one' >&2; echo >&2; echo 'line two' >&2; exit 3"),
		run("sh", "-c", "exit 0"),
	}}
	err := Apply(context.Background(), p, ExecRunner{}, nil)
	want := `sh -c 'echo '\''line one'\'' >&2; echo >&2; echo '\''line two'\'' >&2; exit 3': line one; line two (exit status 3)`
	if err == nil || err.Error() != want {
		t.Errorf("Apply = %v, want %s", err, want)
	}
	err = Apply(context.Background(), Plan{Steps: []Step{run("/nonexistent/launchctl", "bootstrap")}}, ExecRunner{}, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Apply(missing command) = %v, want a not-found error", err)
	}
}

// TestApply_noUserManager checks that install finds out that there is no
// user manager (or GUI session) before writing anything, and says in one
// line what to do instead.
func TestApply_noUserManager(t *testing.T) {
	for _, tc := range []struct {
		goos, check, stderr string
		want                []string
	}{
		{"linux", "systemctl --user show-environment", "Failed to connect to bus: No medium found",
			[]string{"no systemd user manager runs for this login, so nothing was installed: run `brokerd serve`", "loginctl enable-linger", "[systemctl --user show-environment: Failed to connect to bus: No medium found (exit status 1)]"}},
		{"darwin", "launchctl print gui/1000", "Could not find domain for port identifier",
			[]string{"no launchd GUI session (gui/1000)", "`brokerd serve`"}},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			home := t.TempDir()
			o := Options{GOOS: tc.goos, Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd", BinaryOnPath: true}
			p, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			r := &fakeRunner{fail: map[string]string{tc.check: tc.stderr + "\n"}}
			err = Apply(context.Background(), p, r, nil)
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Apply(install) = %v, want one line", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Apply(install) = %q, want it to say %q", err, w)
				}
			}
			if len(r.ran) != 1 {
				t.Errorf("Apply(install) ran %q, want only %s", r.ran, tc.check)
			}
			if got := tree(t, home); len(got) != 0 {
				t.Errorf("home holds %q, want nothing", got)
			}
			// The same check, on its own, for install to run before it
			// asks anything else.
			perr := Preflight(context.Background(), o, &fakeRunner{fail: r.fail})
			if perr == nil || perr.Error() != err.Error() {
				t.Errorf("Preflight = %v, want the plan's own error %q", perr, err)
			}
			if err := Preflight(context.Background(), o, &fakeRunner{}); err != nil {
				t.Errorf("Preflight with a manager = %v, want nil", err)
			}
		})
	}
}

// TestApply_rollback fails each command of a Linux install in turn, on a
// fresh home and over an earlier install, and checks that the home ends
// as it began (byte for byte, modes included), that what was enabled is
// disabled again only on a fresh install, and that an earlier service is
// restarted.
func TestApply_rollback(t *testing.T) {
	for _, reinstall := range []bool{false, true} {
		for _, failing := range []string{"daemon-reload", "enable brokerd.service", "restart brokerd.service"} {
			t.Run(fmt.Sprintf("reinstall=%v/%s", reinstall, failing), func(t *testing.T) {
				home := t.TempDir()
				if err := os.Mkdir(filepath.Join(home, ".config"), 0o755); err != nil {
					t.Fatal(err)
				}
				old := Options{GOOS: "linux", Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd"}
				if reinstall {
					p, err := Install(old)
					if err != nil {
						t.Fatal(err)
					}
					if err := Apply(context.Background(), p, &fakeRunner{}, nil); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(old.envPath(), 0o600); err != nil { // a mode of the user's
						t.Fatal(err)
					}
				}
				before := snapshot(t, home)
				o := old
				o.Listen, o.DefaultProfile, o.Region, o.Reinstall = "127.0.0.1:9922", "prod", "eu-west-1", reinstall
				p, err := Install(o)
				if err != nil {
					t.Fatal(err)
				}
				r := &fakeRunner{fail: map[string]string{"systemctl --user " + failing: "Job failed\n"}}
				var progress bytes.Buffer
				err = Apply(context.Background(), p, r, &progress)
				var cerr *CommandError
				if !errors.As(err, &cerr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Apply = %v, want a one-line *CommandError", err)
				}
				if failing == "restart brokerd.service" && !strings.Contains(err.Error(), "journalctl --user -u brokerd") {
					t.Errorf("Apply = %q, want it to say where to see why", err)
				}
				if got := snapshot(t, home); !reflect.DeepEqual(got, before) {
					t.Errorf("after the failed install, home holds\n%s\nwant as before\n%s\nprogress:\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"), progress.String())
				}
				var ran []string
				for _, argv := range r.ran {
					ran = append(ran, strings.Join(argv, " "))
				}
				disabled := slices.Contains(ran, "systemctl --user disable --now brokerd.service")
				if want := !reinstall && failing == "restart brokerd.service"; disabled != want {
					t.Errorf("ran %q: disable --now %v, want %v (only what this install enabled is disabled)", ran, disabled, want)
				}
				if last := ran[len(ran)-1]; reinstall && last != "systemctl --user restart brokerd.service" {
					t.Errorf("ran %q, want the earlier service restarted last", ran)
				}
				if !reinstall && ran[len(ran)-1] != "systemctl --user daemon-reload" {
					t.Errorf("ran %q, want daemon-reload last, after the files were removed", ran)
				}
			})
		}
	}
}

// snapshot lists the files under root with their modes and contents.
func snapshot(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, line := range tree(t, root) {
		rel, _, _ := strings.Cut(line, " ")
		if b, err := os.ReadFile(filepath.Join(root, rel)); err == nil {
			line += " " + fmt.Sprintf("%q", b)
		}
		out = append(out, line)
	}
	return out
}

// TestReadInstalled checks that the settings an install wrote are read
// back, for `brokerd env` while the daemon does not answer.
func TestReadInstalled(t *testing.T) {
	for _, tc := range []struct{ goos, stateDir, binary string }{
		{"linux", "/run/user/1000/brokerd", "/usr/local/bin/brokerd"},
		{"darwin", "/Users/ana/Library/Application Support/brokerd", "/usr/local/bin/brokerd"},
		// Quoted in the unit, % doubled: read back as it was.
		{"linux", "/home/ana/my state;50%/brokerd", "/home/ana/my bin;50%/brokerd"},
		{"darwin", "/Users/ana/a&b <c>/brokerd", "/Users/ana/a&b <c>/brokerd"},
	} {
		goos := tc.goos
		t.Run(goos, func(t *testing.T) {
			home := t.TempDir()
			o := Options{GOOS: goos, Binary: tc.binary, Home: home, UID: 1000, StateDir: tc.stateDir,
				Listen: "localhost:9922", DefaultProfile: "prod", Region: "eu-west-1"}
			if got, err := ReadInstalled(o); err != nil || got != (Installed{}) {
				t.Errorf("ReadInstalled(nothing installed) = %+v, %v, want zero", got, err)
			}
			p, err := Install(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := Apply(context.Background(), p, &fakeRunner{}, nil); err != nil {
				t.Fatal(err)
			}
			want := Installed{Present: true, Listen: "127.0.0.1:9922", DefaultProfile: "prod", Region: "eu-west-1", StateDir: tc.stateDir, Binary: tc.binary}
			if goos == "darwin" {
				want.Region = "" // launchd keeps no file of it
			}
			if got, err := ReadInstalled(o); err != nil || got != want {
				t.Errorf("ReadInstalled() = %+v, %v, want %+v", got, err, want)
			}
		})
	}
}

// cancelRunner is a fakeRunner that cancels the plan's context when it
// runs the command at, as a Ctrl-C does, and that command is killed.
type cancelRunner struct {
	fakeRunner
	at     string
	cancel context.CancelFunc
	ends   bool // the command at ends well all the same
}

func (r *cancelRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	if strings.Join(argv, " ") == r.at {
		r.ran = append(r.ran, argv)
		r.cancel()
		if r.ends {
			return nil, nil
		}
		return nil, errors.New("signal: killed")
	}
	return r.fakeRunner.Run(ctx, argv)
}

// TestApply_interrupted checks that an install interrupted during a step,
// or as a step ends well, stops there and is undone, and that its error
// says it was interrupted, not what a failure of that step would mean
// (the service did not start).
func TestApply_interrupted(t *testing.T) {
	tests := []struct {
		at      string
		ends    bool // the step interrupted ends well all the same
		wantErr string
	}{
		{"systemctl --user restart brokerd.service", false, "interrupted [systemctl --user restart brokerd.service: "},
		{"systemctl --user daemon-reload", true, "interrupted"},
	}
	for _, tt := range tests {
		home := t.TempDir()
		p, err := Install(Options{GOOS: "linux", Binary: "/usr/local/bin/brokerd", Home: home, UID: 1000, StateDir: "/run/user/1000/brokerd"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelRunner{at: tt.at, cancel: cancel, ends: tt.ends}
		err = Apply(ctx, p, r, nil)
		cancel()
		if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "did not start") {
			t.Errorf("Apply interrupted at %s = %v, want %q", tt.at, err, tt.wantErr)
		}
		if got := tree(t, home); len(got) != 0 {
			t.Errorf("after the install interrupted at %s, home holds %q, want nothing", tt.at, got)
		}
		at := slices.IndexFunc(r.ran, func(argv []string) bool { return strings.Join(argv, " ") == tt.at })
		for _, argv := range r.ran[at+1:] {
			if strings.Contains(strings.Join(argv, " "), "restart") || strings.Contains(strings.Join(argv, " "), "enable") {
				t.Errorf("ran %q after the interruption at %s", argv, tt.at)
			}
		}
		if last := strings.Join(r.ran[len(r.ran)-1], " "); last != "systemctl --user daemon-reload" {
			t.Errorf("ran %q, want the undoing to end with daemon-reload", r.ran)
		}
	}
}

// hookRunner is a fakeRunner that calls hook before each command.
type hookRunner struct {
	fakeRunner
	hook func(cmd string)
}

var _ Runner = (*hookRunner)(nil)

func (r *hookRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	r.hook(strings.Join(argv, " "))
	return r.fakeRunner.Run(ctx, argv)
}

// TestApply_rollbackFails makes undoing a failed install fail too (the
// unit file replaced by a directory that cannot be removed) and checks
// that both failures come back in one line.
func TestApply_rollbackFails(t *testing.T) {
	o := Options{GOOS: "linux", Binary: "/usr/local/bin/brokerd", Home: t.TempDir(), UID: 1000, StateDir: "/run/user/1000/brokerd"}
	p, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	const failing = "systemctl --user daemon-reload"
	r := &hookRunner{fakeRunner: fakeRunner{fail: map[string]string{failing: "Failed to connect to bus\n"}}}
	replaced := false
	r.hook = func(cmd string) {
		if cmd == failing && !replaced {
			replaced = true
			if err := os.Remove(o.unitPath()); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(o.unitPath(), "kept"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = Apply(context.Background(), p, r, nil)
	var cerr *CommandError
	if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "; and undoing the install failed: remove "+o.unitPath()) {
		t.Fatalf("Apply = %v, want the command's error and the failed undo", err)
	}
	if strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), o.unitPath()) != 1 {
		t.Errorf("Apply = %q, want one line naming the file once", err)
	}
}

func TestJoinLine(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	if err := joinLine(nil, nil); err != nil {
		t.Errorf("joinLine(nil, nil) = %v, want nil", err)
	}
	err := joinLine(a, nil, b)
	if err.Error() != "a; b" || !errors.Is(err, a) || !errors.Is(err, b) {
		t.Errorf("joinLine(a, nil, b) = %q, want \"a; b\" wrapping both", err)
	}
}
