package deploy

import (
	"bytes"
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
		for _, v := range []string{wire.VarURL, wire.VarTokenFile} {
			if !strings.Contains(all, v) {
				t.Errorf("Uninstall(%s) commands %q do not withdraw %s", o.GOOS, commands, v)
			}
		}
	}
}
