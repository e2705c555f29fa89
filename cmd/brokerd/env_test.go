package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
)

var vars = [][2]string{
	{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9911/v1/credentials/prod"},
	{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/Users/a b/Library/Application Support/brokerd/token"},
	{"AWS_REGION", ""},
}

func TestPrintVars(t *testing.T) {
	tests := []struct {
		shell, want string
	}{
		{"bash", "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9911/v1/credentials/prod\n" +
			"export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='/Users/a b/Library/Application Support/brokerd/token'\n" +
			"unset AWS_REGION\n"},
		{"fish", "set -gx AWS_CONTAINER_CREDENTIALS_FULL_URI http://127.0.0.1:9911/v1/credentials/prod;\n" +
			"set -gx AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE '/Users/a b/Library/Application Support/brokerd/token';\n" +
			"set -e AWS_REGION;\n"},
		{"powershell", "$Env:AWS_CONTAINER_CREDENTIALS_FULL_URI = 'http://127.0.0.1:9911/v1/credentials/prod'\n" +
			"$Env:AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = '/Users/a b/Library/Application Support/brokerd/token'\n" +
			"Remove-Item Env:AWS_REGION\n"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			var b strings.Builder
			if err := printVars(&b, tt.shell, vars); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("printVars(%q) = %q, want %q", tt.shell, b.String(), tt.want)
			}
		})
	}
	// PowerShell ends a single-quoted string at a typographic quote too.
	var b strings.Builder
	if err := printVars(&b, "powershell", [][2]string{{"BROKERD_PROFILE", "it's bob’s ‘x’ ‚y‛"}}); err != nil {
		t.Fatal(err)
	}
	if want := "$Env:BROKERD_PROFILE = 'it''s bob’’s ‘‘x’’ ‚‚y‛‛'\n"; b.String() != want {
		t.Errorf("printVars(powershell) = %q, want %q", b.String(), want)
	}
	if err := printVars(&strings.Builder{}, "csh", vars); err == nil {
		t.Errorf("printVars(csh) = nil, want an error naming the shells")
	}
}

// TestPrintVars_shells evaluates the lines in each shell installed here,
// as eval "$(brokerd env)" and brokerd env --shell fish | source do, and
// checks that odd but valid profile names come back whole and that a
// variable is unset.
func TestPrintVars_shells(t *testing.T) {
	names := []string{"it's", `a"b`, "$HOME", "a;b", "#x", "~root", "=ls", "a=b", "{a,b}", "*", "a!b", "`id`", "bob’s", "-dev", "ü"}
	shells := []struct {
		shell, prog string
		args        []string
	}{
		{"bash", "bash", []string{"-c", `eval "$(cat)"; printf %s "$BROKERD_PROFILE"; printenv AWS_REGION; exit 0`}},
		{"zsh", "zsh", []string{"-c", `eval "$(cat)"; printf %s "$BROKERD_PROFILE"; printenv AWS_REGION; exit 0`}},
		{"sh", "dash", []string{"-c", `eval "$(cat)"; printf %s "$BROKERD_PROFILE"; printenv AWS_REGION; exit 0`}},
		{"fish", "fish", []string{"-c", `source; printf %s "$BROKERD_PROFILE"; printenv AWS_REGION; exit 0`}},
	}
	for _, sh := range shells {
		t.Run(sh.prog, func(t *testing.T) {
			if _, err := exec.LookPath(sh.prog); err != nil {
				t.Skipf("%s is not installed", sh.prog)
			}
			for _, name := range names {
				var b strings.Builder
				// A region of the profile before is unset.
				if err := printVars(&b, sh.shell, [][2]string{{"BROKERD_PROFILE", name}, {"AWS_REGION", ""}}); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(sh.prog, sh.args...)
				cmd.Env = append(os.Environ(), "AWS_REGION=us-east-2")
				cmd.Stdin = strings.NewReader(b.String())
				out, err := cmd.CombinedOutput()
				if string(out) != name || err != nil {
					t.Errorf("%s evaluating %q: BROKERD_PROFILE = %q (%v), want %q", sh.prog, b.String(), out, err, name)
				}
			}
		})
	}
}

func TestExecEnv(t *testing.T) {
	environ := []string{
		"PATH=/bin", "AWS_ACCESS_KEY_ID=AKIA", "AWS_SECRET_ACCESS_KEY=s", "AWS_SESSION_TOKEN=t",
		"AWS_PROFILE=dev", "AWS_REGION=eu-west-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://old",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/x", "AWS_ACCESS_KEY=AKIA", "AWS_SECRET_KEY=s",
	}
	got := execEnv(environ, vars)
	want := []string{"PATH=/bin", vars[0][0] + "=" + vars[0][1], vars[1][0] + "=" + vars[1][1]}
	if !slices.Equal(got, want) {
		t.Errorf("execEnv() = %q, want %q", got, want)
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	exp, last := now.Add(54*time.Minute), now.Add(-6*time.Minute)
	st := control.Status{
		Endpoint: "http://127.0.0.1:9911", PID: 7, Started: now.Add(-time.Hour), DefaultProfile: "prod",
		Sessions: []control.Session{{Profile: "dev", MFASerial: "arn:aws:iam::111111111111:mfa/alice", Expires: now.Add(11 * time.Hour)}},
		Profiles: []control.Profile{
			{Name: "dev", Kind: "source"},
			{Name: "prod", Kind: "role", RoleARN: "arn:aws:iam::999999999999:role/UpdateApp", Expires: &exp, LastRefresh: &last},
		},
	}
	var b strings.Builder
	printStatus(&b, st, now)
	for _, want := range []string{
		"next login due: 2026-11-22 19:58:50 (in 10h59m0s): brokerd login dev", // SessionMinLeft (70 s) before the end
		"arn:aws:iam::999999999999:role/UpdateApp",
		"54m0s", "6m0s ago",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printStatus() = %q, want it to contain %q", b.String(), want)
		}
	}
}
