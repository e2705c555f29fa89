package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

// TestRun_usage checks that a command line brokerd cannot take exits
// non-zero with one line that ends in the usage line, and prints no help.
func TestRun_usage(t *testing.T) {
	tests := []struct {
		args []string
		want []string // in the error
	}{
		{nil, []string{"give a command: one of", "usage: brokerd COMMAND [flags]"}},
		{[]string{"frob"}, []string{`unknown command "frob"`, "usage: brokerd COMMAND [flags]"}},
		{[]string{"keys"}, []string{"keys needs a command: one of add, import, list, remove, rotate", "usage: brokerd keys COMMAND [flags]"}},
		{[]string{"keys", "lst"}, []string{`unknown command "lst" for keys: did you mean list?`}},
		{[]string{"keys", "add"}, []string{"wrong number of arguments (0 given)", "usage: brokerd keys add PROFILE [flags]"}},
		{[]string{"keys", "rotate", "a", "b"}, []string{"usage: brokerd keys rotate PROFILE [flags]"}},
		{[]string{"completion", "tcsh"}, []string{"brokerd has completions for bash, zsh, fish, powershell, not tcsh", "usage: brokerd completion"}},
		{[]string{"completion"}, []string{"name one shell"}},
		{[]string{"status", "--bogus"}, []string{"unknown flag: --bogus", "usage: brokerd status [flags]"}},
		{[]string{"env", "a", "b"}, []string{"wrong number of arguments (2 given)", "usage: brokerd env [PROFILE] [flags]"}},
		{[]string{"env", "--shell", "tcsh"}, []string{"want bash, zsh, fish or powershell", "usage: brokerd env [PROFILE] [flags]"}},
		{[]string{"serve", "--log-level", "loud"}, []string{"want debug, info, warn or error", "usage: brokerd serve [flags]"}},
		{[]string{"exec"}, []string{"usage: brokerd exec PROFILE [-- COMMAND [ARGS...]]"}},
		// An argument to a command that takes none is not called a command.
		{[]string{"status", "prod"}, []string{"status takes no arguments (1 given: prod)", "usage: brokerd status [flags]"}},
		{[]string{"install", "prod"}, []string{"install takes no arguments (1 given: prod): did you mean --default-profile prod?", "usage: brokerd install [flags]"}},
		{[]string{"docker", "teardown", "x", "y"}, []string{"docker teardown takes no arguments (2 given: x y)"}},
		// help of a topic brokerd does not have showed brokerd's help, exit 0.
		{[]string{"help", "stauts"}, []string{`unknown command "stauts": did you mean status?`, "usage: brokerd COMMAND [flags]"}},
		{[]string{"help", "keys", "lst"}, []string{`unknown command "lst" for keys: did you mean list?`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error; stdout %q", tt.args, stdout.String())
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("run(%q) = %q, want one line", tt.args, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run(%q) = %q, want it to say %q", tt.args, err, w)
				}
			}
			if stdout.Len() > 0 || stderr.Len() > 0 {
				t.Errorf("run(%q) printed %q and %q, want nothing (no help)", tt.args, stdout.String(), stderr.String())
			}
		})
	}
}

func TestRun_version(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var stdout bytes.Buffer
		if err := run(context.Background(), args, strings.NewReader(""), &stdout, &bytes.Buffer{}); err != nil {
			t.Fatalf("run(%q) = %v", args, err)
		}
		if got := stdout.String(); !strings.HasPrefix(got, "brokerd ") || !strings.Contains(got, "go1.") || strings.Count(got, "\n") != 1 {
			t.Errorf("run(%q) printed %q, want one line: brokerd VERSION, …, goVERSION", args, got)
		}
	}
}

func TestDescribeBuild(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "f934aa8b9cd3e59c7a2f0b1c2d3e4f5a6b7c8d9e"},
		{Key: "vcs.time", Value: "2026-12-01T19:26:18Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := describeBuild(info)
	for _, w := range []string{"v1.2.0", "commit f934aa8b9cd3 of 2026-12-01T19:26:18Z, with uncommitted changes", "go1.26.8"} {
		if !strings.Contains(got, w) {
			t.Errorf("describeBuild() = %q, want it to contain %q", got, w)
		}
	}
	if got := describeBuild(&debug.BuildInfo{GoVersion: "go1.26.8"}); !strings.HasPrefix(got, "(devel), go1.26.8") {
		t.Errorf("describeBuild(no vcs) = %q, want (devel), go1.26.8, …", got)
	}
}

func TestCheckKeyID(t *testing.T) {
	tests := []struct {
		id   string
		want string // in the error; "" for none
	}{
		{"AKIAIOSFODNN7EXAMPLE", ""},
		{"AKIA0123456789ABCDEF", ""}, // moto's ids have 0, 1, 8 and 9
		{"ASIAIOSFODNN7EXAMPLE", "temporary access key from STS"},
		{"AIDAIOSFODNN7EXAMPLE", "unique id of an IAM user"},
		{"akiaiosfodnn7example", "lower-case"},
		{"AKIA1234", "has 8 characters, want 20"},
		{strings.Repeat("a", 40), "like a secret access key"},
		{"", "empty"},
	}
	for _, tt := range tests {
		err := checkKeyID(tt.id)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkKeyID(%q) = %v, want %q", tt.id, err, tt.want)
		}
	}
}
