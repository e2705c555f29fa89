package deploy

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/wire"
)

// TestPlan_golden pins the --dry-run output of install and uninstall for
// both systems: every file with its content and every command, in order.
func TestPlan_golden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			for name, plan := range map[string]func(Options) (Plan, error){"install": Install, "uninstall": Uninstall} {
				p, err := plan(tc.o)
				if err != nil {
					t.Fatalf("%s(%+v) = %v", name, tc.o, err)
				}
				var b bytes.Buffer
				if err := p.Format(&b); err != nil {
					t.Fatal(err)
				}
				golden(t, tc.name+"."+name+".golden", b.Bytes())
			}
		})
	}
}

func argvs(cmds []Command) [][]string {
	var out [][]string
	for _, c := range cmds {
		out = append(out, c.Argv)
	}
	return out
}

func TestInstall(t *testing.T) {
	for _, tc := range []struct {
		o        Options
		files    []string
		commands [][]string
		rc       string
	}{
		{linuxPlain,
			[]string{"/home/ana/.config/systemd/user/brokerd.service", "/home/ana/.config/environment.d/60-brokerd.conf"},
			[][]string{
				{"systemctl", "--user", "show-environment"},
				{"systemctl", "--user", "daemon-reload"},
				{"systemctl", "--user", "enable", "brokerd.service"},
				{"systemctl", "--user", "restart", "brokerd.service"},
			},
			`eval "$(brokerd env)"`},
		{darwinPlain,
			[]string{"/Users/ana/Library/LaunchAgents/com.brokerd.agent.plist"},
			[][]string{
				{"launchctl", "print", "gui/501"},
				{"launchctl", "bootout", "gui/501/com.brokerd.agent"},
				{"launchctl", "enable", "gui/501/com.brokerd.agent"},
				{"launchctl", "bootstrap", "gui/501", "/Users/ana/Library/LaunchAgents/com.brokerd.agent.plist"},
			},
			`eval "$(brokerd env)"`},
		{darwinFlags, nil, nil, `eval "$('/Users/ana/R&D <tools>/"it'\''s" brokerd' env)"`},
	} {
		p, err := Install(tc.o)
		if err != nil {
			t.Fatalf("Install(%+v) = %v", tc.o, err)
		}
		var files []string
		for _, f := range p.Files() {
			files = append(files, f.Path)
			if f.Mode != 0o644 {
				t.Errorf("Install(%s): %s mode %o, want 0644", tc.o.GOOS, f.Path, f.Mode)
			}
		}
		if tc.files != nil && !reflect.DeepEqual(files, tc.files) {
			t.Errorf("Install(%s).Files() = %q, want %q", tc.o.GOOS, files, tc.files)
		}
		if tc.commands != nil && !reflect.DeepEqual(argvs(p.Commands()), tc.commands) {
			t.Errorf("Install(%s).Commands() = %q, want %q", tc.o.GOOS, argvs(p.Commands()), tc.commands)
		}
		for _, c := range p.Commands() {
			if c.IgnoreFailure && !reflect.DeepEqual(c.Argv[:2], []string{"launchctl", "bootout"}) {
				t.Errorf("Install(%s) ignores a failure of %q, want only bootout's", tc.o.GOOS, c.Argv)
			}
		}
		if last := p.Notes[len(p.Notes)-1]; strings.TrimSpace(last) != tc.rc {
			t.Errorf("Install(%s) ends with %q, want the rc line %q", tc.o.GOOS, last, tc.rc)
		}
	}
}

// TestUninstall_idempotent checks that uninstall plans only steps that are
// fine when nothing is installed: removals (a missing file is fine) and
// commands whose failure is ignored.
func TestUninstall_idempotent(t *testing.T) {
	for _, goos := range []string{"linux", "darwin"} {
		p, err := Uninstall(Options{GOOS: goos, Home: "/home/ana", UID: 1000})
		if err != nil {
			t.Fatalf("Uninstall(%s) = %v", goos, err)
		}
		for _, s := range p.Steps {
			if s.Mkdir != "" || s.Write != nil || s.Run != nil && !s.Run.IgnoreFailure {
				t.Errorf("Uninstall(%s) plans %+v, want only removals and ignorable commands", goos, s)
			}
		}
		if len(p.Files()) != 0 {
			t.Errorf("Uninstall(%s).Files() = %v, want none", goos, p.Files())
		}
	}
}

// TestUninstall_undoesInstall checks that uninstall removes every file
// install writes and undoes every variable it exports.
func TestUninstall_undoesInstall(t *testing.T) {
	for _, o := range []Options{linuxPlain, darwinPlain} {
		in, err := Install(o)
		if err != nil {
			t.Fatal(err)
		}
		un, err := Uninstall(o)
		if err != nil {
			t.Fatal(err)
		}
		removed := map[string]bool{}
		var commands []string
		for _, s := range un.Steps {
			if s.Remove != "" {
				removed[s.Remove] = true
			}
			if s.Run != nil {
				commands = append(commands, strings.Join(s.Run.Argv, " "))
			}
		}
		for _, f := range in.Files() {
			if !removed[f.Path] {
				t.Errorf("Uninstall(%s) leaves %s", o.GOOS, f.Path)
			}
		}
		all := strings.Join(commands, "\n")
		for _, v := range []string{wire.VarURL, wire.VarTokenFile, wire.VarProfile} {
			if !strings.Contains(all, v) {
				t.Errorf("Uninstall(%s) commands %q do not withdraw %s", o.GOOS, commands, v)
			}
		}
	}
}

// TestPreflight_advice checks that what install advises running when there
// is no service manager carries the options install was given, quoted for
// a shell: `brokerd serve` alone would serve another profile, or listen
// elsewhere, than was asked.
func TestPreflight_advice(t *testing.T) {
	base := Options{GOOS: "linux", Binary: "/home/ana/.local/bin/brokerd", Home: "/home/ana", UID: 1000, BinaryOnPath: true}
	with := func(f func(*Options)) Options { o := base; f(&o); return o }
	for _, tc := range []struct {
		name         string
		o            Options
		serve, again string // the commands advised
		fail         string // the whole message; empty: not checked
	}{
		{"no options", base, "brokerd serve", "brokerd install",
			"no systemd user manager runs for this login, so nothing was installed: run `brokerd serve` in a terminal instead, " +
				"or start a user manager with `loginctl enable-linger $USER` (then log in again) and run `brokerd install` again"},
		{"default profile", with(func(o *Options) { o.DefaultProfile = "prod" }),
			"brokerd serve --default-profile prod", "brokerd install --default-profile prod",
			"no systemd user manager runs for this login, so nothing was installed: run `brokerd serve --default-profile prod` in a terminal instead, " +
				"or start a user manager with `loginctl enable-linger $USER` (then log in again) and run `brokerd install --default-profile prod` again"},
		{"serve's own default profile", with(func(o *Options) { o.DefaultProfile = "default" }), "brokerd serve", "brokerd install", ""},
		{"listen and profile", with(func(o *Options) { o.Listen, o.DefaultProfile = "localhost:9922", "dev.eu@corp" }),
			"brokerd serve --listen localhost:9922 --default-profile dev.eu@corp",
			"brokerd install --listen localhost:9922 --default-profile dev.eu@corp", ""},
		{"IPv6 listen, quoted", with(func(o *Options) { o.Listen = "[::1]:9911" }),
			"brokerd serve --listen '[::1]:9911'", "brokerd install --listen '[::1]:9911'", ""},
		{"binary not on PATH", with(func(o *Options) {
			o.Binary, o.BinaryOnPath, o.DefaultProfile = "/home/ana/R&D tools/it's brokerd", false, "prod"
		}),
			`'/home/ana/R&D tools/it'\''s brokerd' serve --default-profile prod`,
			`'/home/ana/R&D tools/it'\''s brokerd' install --default-profile prod`, ""},
		{"macOS", with(func(o *Options) { o.GOOS, o.UID, o.DefaultProfile = "darwin", 501, "prod" }),
			"brokerd serve --default-profile prod", "brokerd install --default-profile prod",
			"no launchd GUI session (gui/501) for this login, so nothing was installed: " +
				"log in to the desktop and run `brokerd install --default-profile prod` there, or run `brokerd serve --default-profile prod` in a terminal instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.Command("serve"); got != tc.serve {
				t.Errorf("Command(%q) = %q, want %q", "serve", got, tc.serve)
			}
			if got := tc.o.Command("install"); got != tc.again {
				t.Errorf("Command(%q) = %q, want %q", "install", got, tc.again)
			}
			err := Preflight(context.Background(), tc.o, &fakeRunner{failAll: true})
			if err == nil {
				t.Fatalf("Preflight(%+v) without a manager = nil, want an error", tc.o)
			}
			var cerr *CommandError
			if !errors.As(err, &cerr) {
				t.Fatalf("Preflight(%+v) = %v, want a *CommandError", tc.o, err)
			}
			for _, cmd := range []string{tc.serve, tc.again} {
				if !strings.Contains(cerr.Fail, "`"+cmd+"`") {
					t.Errorf("Preflight(%+v) = %q, want it to advise `%s`", tc.o, cerr.Fail, cmd)
				}
			}
			if tc.fail != "" && cerr.Fail != tc.fail {
				t.Errorf("Preflight(%+v) = %q, want %q", tc.o, cerr.Fail, tc.fail)
			}
			// A shell takes the advice as the command line of the service.
			want := tc.o.serveArgs()
			if tc.o.BinaryOnPath {
				want[0] = "brokerd"
			}
			if got := shellWords(t, tc.serve); !reflect.DeepEqual(got, want) {
				t.Errorf("sh takes %q as %q, want %q", tc.serve, got, want)
			}
		})
	}
}

// shellWords is how sh splits line into words.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `for w in `+line+`; do printf '%s\0' "$w"; done`).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// TestPlans_homeNotClean checks that a $HOME that ends in a slash, or
// holds "//", plans what the clean one does, rather than being refused.
func TestPlans_homeNotClean(t *testing.T) {
	for _, o := range []Options{linuxPlain, darwinPlain} {
		for _, home := range []string{o.Home + "/", strings.Replace(o.Home, "/", "//", 1)} {
			unclean := o
			unclean.Home = home
			for name, plan := range map[string]func(Options) (Plan, error){"Install": Install, "Uninstall": Uninstall} {
				want, err := plan(o)
				if err != nil {
					t.Fatal(err)
				}
				got, err := plan(unclean)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s(%s, Home %q) = %+v, %v, want %+v", name, o.GOOS, home, got, err, want)
				}
			}
		}
	}
}
