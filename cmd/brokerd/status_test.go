package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/deploy"
)

// TestPrintStatus_SessionEnd checks that an MFA session shows as ended,
// and the next login as due, from when the daemon stops using it: the
// UsedUntil it sends, or SessionMinLeft (70 s) before the session expires
// from a daemon that sends none.
func TestPrintStatus_SessionEnd(t *testing.T) {
	now := time.Date(2026, 11, 22, 19, 58, 55, 0, time.Local)
	tests := []struct {
		left      time.Duration
		usedUntil time.Duration // before the session ends; 0: none sent (an older daemon)
		want      []string
		not       string
	}{
		{2 * time.Minute, 0, []string{"2m0s", "next login due: 2026-11-22 19:59:45 (in 50s): brokerd login dev"}, "login due now"},
		{65 * time.Second, 0, []string{"expired", "login due now: brokerd login dev"}, "next login due"},
		{-time.Hour, 0, []string{"expired", "login due now: brokerd login dev"}, "next login due"},
		{2 * time.Minute, 70 * time.Second, []string{"2m0s", "next login due: 2026-11-22 19:59:45 (in 50s): brokerd login dev"}, "login due now"},
		{65 * time.Second, 70 * time.Second, []string{"expired", "login due now: brokerd login dev"}, "next login due"},
		// The daemon's time, not a margin of the CLI's own.
		{2 * time.Minute, 90 * time.Second, []string{"2m0s", "next login due: 2026-11-22 19:59:25 (in 30s): brokerd login dev"}, "login due now"},
		{80 * time.Second, 90 * time.Second, []string{"expired", "login due now: brokerd login dev"}, "next login due"},
	}
	for _, tt := range tests {
		s := control.Session{Profile: "dev", MFASerial: "arn:aws:iam::111111111111:mfa/alice", Expires: now.Add(tt.left)}
		if tt.usedUntil != 0 {
			s.UsedUntil = s.Expires.Add(-tt.usedUntil)
		}
		st := control.Status{Endpoint: "http://127.0.0.1:9911", PID: 7, Started: now.Add(-time.Hour), Sessions: []control.Session{s}}
		var b strings.Builder
		printStatus(&b, st, now)
		for _, want := range tt.want {
			if !strings.Contains(b.String(), want) {
				t.Errorf("printStatus() with %s left, used until %s before = %q, want it to contain %q", tt.left, tt.usedUntil, b.String(), want)
			}
		}
		if strings.Contains(b.String(), tt.not) {
			t.Errorf("printStatus() with %s left, used until %s before = %q, want no %q", tt.left, tt.usedUntil, b.String(), tt.not)
		}
	}
}

// TestPrintStatus_NextLoginDue checks that the next login due is that of
// the session the daemon stops using first.
func TestPrintStatus_NextLoginDue(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	end := now.Add(11 * time.Hour)
	st := control.Status{Endpoint: "http://127.0.0.1:9911", PID: 7, Started: now.Add(-time.Hour), Sessions: []control.Session{
		{Profile: "dev", MFASerial: "arn:aws:iam::111111111111:mfa/alice", Expires: end, UsedUntil: end.Add(-10 * time.Minute)},
		{Profile: "ops", MFASerial: "arn:aws:iam::222222222222:mfa/alice", Expires: end.Add(-time.Minute), UsedUntil: end.Add(-2 * time.Minute)},
	}}
	var b strings.Builder
	printStatus(&b, st, now)
	if want := "next login due: 2026-11-22 19:50:00 (in 10h50m0s): brokerd login dev\n"; !strings.Contains(b.String(), want) {
		t.Errorf("printStatus() = %q, want it to contain %q", b.String(), want)
	}
}

// TestServiceStopped checks the advice for an installed service that does
// not answer: start it, unless the binary it runs is gone (moved, deleted),
// which no start cures: then install again, with the flags it had.
func TestServiceStopped(t *testing.T) {
	dir := t.TempDir()
	there := filepath.Join(dir, "brokerd")
	if err := os.WriteFile(there, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "moved")
	open := filepath.Join(dir, "open") // as WSLg's runtime directory
	if err := os.Mkdir(open, 0o700); err != nil || os.Chmod(open, 0o777) != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in         deploy.Installed
		want, not  string
		binaryGone bool
	}{
		{deploy.Installed{Present: true, Binary: there, DefaultProfile: "prod"}, "start it with `", "brokerd install", false},
		{deploy.Installed{Present: true, DefaultProfile: "prod"}, "start it with `", "brokerd install", false}, // not known: an older unit
		{deploy.Installed{Present: true, Binary: gone, Listen: "127.0.0.1:9922", DefaultProfile: "prod"},
			"start it with `brokerd install --listen 127.0.0.1:9922 --default-profile prod` (the binary it runs, " + gone + ", is gone)", "kickstart", true},
		{deploy.Installed{Present: true, Binary: gone, Listen: "127.0.0.1:9911", DefaultProfile: "default"},
			"start it with `brokerd install` (the binary it runs, " + gone + ", is gone)", "systemctl", true},
		// Pinned, by an install of an older brokerd, where others may
		// write: the CLI does not look there, so the service may run.
		{deploy.Installed{Present: true, Binary: there, StateDir: filepath.Join(open, "brokerd"), DefaultProfile: "prod"},
			"the installed service keeps its state in " + filepath.Join(open, "brokerd") + ", where other users may write, so brokerd does not look for it there: run `brokerd install --default-profile prod` to move it",
			"not running", false},
	}
	for _, tt := range tests {
		got := serviceStopped(tt.in).Error()
		if !strings.Contains(got, tt.want) || strings.Contains(got, tt.not) {
			t.Errorf("serviceStopped(%+v) = %q, want %q and no %q", tt.in, got, tt.want, tt.not)
		}
		if g := binaryGone(tt.in) != ""; g != tt.binaryGone {
			t.Errorf("binaryGone(%+v) = %v, want %v", tt.in, g, tt.binaryGone)
		}
	}
}

// TestReplaced checks that a process whose executable was replaced since
// it started, as an upgrade with `go build -o` does, is told from one whose
// executable is as it started.
func TestReplaced(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("told from /proc")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep here")
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "brokerd")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if replaced(cmd.Process.Pid) {
		t.Errorf("replaced(a process as it started) = true, want false")
	}
	// As go build -o does: the old file removed, a new one written.
	if err := os.Remove(bin); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatal(err)
	}
	if !replaced(cmd.Process.Pid) {
		t.Errorf("replaced(a process whose binary was replaced) = false, want true")
	}
	if replaced(deadPID(t)) {
		t.Errorf("replaced(a pid that ended) = true, want false")
	}
}

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestPrintStatus_ConfigError checks that status says why the daemon
// cannot use the AWS config file, above the profiles it then refuses.
func TestPrintStatus_ConfigError(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	st := control.Status{Endpoint: "http://127.0.0.1:9911", PID: 7, Started: now.Add(-time.Hour), DefaultProfile: "prod",
		ConfigError: "invalid AWS config: read /home/a/.aws/config: is a directory: make /home/a/.aws/config a file you can read",
		Profiles:    []control.Profile{{Name: "dev", Kind: "source"}}}
	var b strings.Builder
	printStatus(&b, st, now)
	want := "AWS config file not used: invalid AWS config: read /home/a/.aws/config: is a directory: make /home/a/.aws/config a file you can read " +
		"(every profile it names is refused until then; brokerd doctor checks it)\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("printStatus() = %q, want it to contain %q", b.String(), want)
	}
	// With no profile known, it does not say there are none yet: the
	// file may have some.
	st.Profiles = nil
	b.Reset()
	printStatus(&b, st, now)
	if strings.Contains(b.String(), "no profiles yet") {
		t.Errorf("printStatus() with the config file unread = %q, want no \"no profiles yet\"", b.String())
	}
}

// TestPrintStatus_DefaultProfileMissing checks that status says the
// default profile is missing, and how to name another.
func TestPrintStatus_DefaultProfileMissing(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.Local)
	st := control.Status{Endpoint: "http://127.0.0.1:9911", PID: 7, Started: now.Add(-time.Hour), DefaultProfile: "nope",
		DefaultProfileMissing: `no profile "nope" in /home/a/.aws/config nor keys for it in the keychain: add a [profile nope] section, or keys with ` + "`brokerd keys add nope`",
		Profiles:              []control.Profile{{Name: "dev", Kind: "source"}}}
	var b strings.Builder
	printStatus(&b, st, now)
	want := "default profile missing: no profile \"nope\" in /home/a/.aws/config nor keys for it in the keychain: add a [profile nope] section, or keys with `brokerd keys add nope` " +
		"(SDKs that name no profile are refused until then; brokerd install --default-profile NAME, or serve's, changes the default)\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("printStatus() = %q, want it to contain %q", b.String(), want)
	}
}
