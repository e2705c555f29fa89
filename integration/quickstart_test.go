//go:build integration

package integration

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickStartStep is one step of the README's quick start: a command line
// for the shell, or a file to write (the ini block for ~/.aws/config).
type quickStartStep struct {
	command string
	file    string // where the content goes, for a file
	content string
}

// fence is a fenced code block: its language, then its lines.
var fence = regexp.MustCompile("(?ms)^[ \t]*```([a-z]*)[ \t]*\n(.*?)^[ \t]*```[ \t]*$")

// readQuickStart returns the steps of the README's "Quick start" section,
// in order: each line of a ```sh block is a command (comments and blank
// lines aside), and the ```ini block is ~/.aws/config, which the text
// before it must name.
func readQuickStart(t *testing.T) []quickStartStep {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Quick start")
	if start < 0 {
		t.Fatal("README.md has no \"## Quick start\" section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var steps []quickStartStep
	last := 0
	for _, m := range fence.FindAllStringSubmatchIndex(section, -1) {
		lang, body := section[m[2]:m[3]], section[m[4]:m[5]]
		before := section[last:m[0]]
		last = m[1]
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, strings.Repeat(" ", indent))
		}
		switch lang {
		case "sh":
			for _, l := range lines {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					steps = append(steps, quickStartStep{command: l})
				}
			}
		case "ini":
			if !strings.Contains(before, "`~/.aws/config`") {
				t.Fatalf("README quick start: the text before the ini block does not say where it goes (~/.aws/config):\n%s", before)
			}
			steps = append(steps, quickStartStep{file: ".aws/config", content: strings.Join(lines, "\n") + "\n"})
		default:
			t.Fatalf("README quick start: a code block in %q, which this test cannot replay: use sh or ini", lang)
		}
	}
	return steps
}

// testQuickStart replays the README's quick start, command by command, in
// one shell, on a clean home with a real systemd user manager and its
// keyring (scripts/systemd-user-manager.sh), moto_server as AWS: build,
// PATH, keys add, the config, install, eval "$(brokerd env)", and the aws
// CLI answers as assumed-role/UpdateApp with no other export (no region in
// the environment: it comes from the profile).
// (TestSystemdUserManager runs it.)
func testQuickStart(t *testing.T) {
	steps := readQuickStart(t)
	if len(steps) < 6 || steps[len(steps)-1].command != "aws sts get-caller-identity" {
		t.Fatalf("README quick start has steps %+v, want at least six ending with aws sts get-caller-identity", steps)
	}
	// The quick start installs on the default port.
	if ln, err := net.Listen("tcp", "127.0.0.1:9911"); err != nil {
		t.Fatalf("127.0.0.1:9911, the default port the quick start installs on, is taken by another program: %v", err)
	} else {
		ln.Close()
	}
	checkout, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	home := newHome(t)
	m := startUserManager(t, home, managerEnv(t, nil))
	// The machine's side of "moto as AWS": the service reaches it too.
	m.mustSh(t, "", "systemctl --user set-environment AWS_ENDPOINT_URL_STS="+openSTS.URL+" AWS_EC2_METADATA_DISABLED=true")
	t.Cleanup(func() { m.sh(t, "", "brokerd uninstall") })
	m.mustSh(t, "", "cd "+checkout)
	if env := m.mustSh(t, "", "env"); strings.Contains(env, "AWS_REGION") || strings.Contains(env, "AWS_DEFAULT_REGION") || strings.Contains(env, "AWS_PROFILE") {
		t.Fatalf("the shell has a region or profile before the quick start:\n%s", env)
	}
	if r := m.sh(t, "", "command -v brokerd"); r.code == 0 {
		t.Fatalf("brokerd is on PATH before the quick start: %s", r.stdout)
	}
	keys := randomKeys(t)
	var last result
	for _, s := range steps {
		if s.file != "" {
			path := filepath.Join(home, s.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(s.content), 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		stdin := ""
		if strings.HasPrefix(s.command, "brokerd keys add ") {
			stdin = keys.stdin() // what the person types at the prompts
		}
		last = m.sh(t, stdin, s.command)
		if last.code != 0 {
			t.Fatalf("README quick start: %q failed: %v\njournal:\n%s", s.command, last, m.sh(t, "", "journalctl --user -u brokerd --no-pager | tail -20").stdout)
		}
	}
	if !strings.Contains(last.stdout, `"Arn": "`+assumedUpdateApp) {
		t.Errorf("aws sts get-caller-identity printed %q, want the Arn %s…", last.stdout, assumedUpdateApp)
	}
	for _, s := range steps {
		if strings.HasPrefix(s.command, "export ") && !strings.HasPrefix(s.command, "export PATH=") {
			t.Errorf("README quick start exports %q: the region and endpoint must come without an export", s.command)
		}
	}
}
