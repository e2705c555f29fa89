package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
)

// TestPrintLogin_NextLoginDue checks that login names the time the next
// login is really due: when the daemon stops using the session,
// broker.SessionMinLeft before it ends, not its end.
func TestPrintLogin_NextLoginDue(t *testing.T) {
	now := time.Date(2026, 11, 23, 7, 30, 0, 0, time.Local)
	tests := []struct {
		duration time.Duration
		want     string
	}{
		{12 * time.Hour, "MFA session of profile dev open until 2026-11-23 19:30:00 (12h0m0s); next login due 2026-11-23 19:28:50\n"},
		{15 * time.Minute, "MFA session of profile dev open until 2026-11-23 07:45:00 (15m0s); next login due 2026-11-23 07:43:50\n"},
	}
	if broker.SessionMinLeft != 70*time.Second {
		t.Fatalf("broker.SessionMinLeft = %v; the cases below expect 70s", broker.SessionMinLeft)
	}
	for _, tt := range tests {
		var b strings.Builder
		printLogin(&b, control.Session{Profile: "dev", Expires: now.Add(tt.duration)}, now)
		if b.String() != tt.want {
			t.Errorf("printLogin(%v) = %q, want %q", tt.duration, b.String(), tt.want)
		}
	}
}

// TestReadCode_SaysWhereABadCodeCameFrom checks that a code that is not 6
// digits is refused with where it came from (mfa_process, standard input)
// and what to do, never with the text itself: a bare "the MFA code must be
// 6 digits" after an mfa_process that printed a line of its own beside the
// code left the user looking at the code that was typed nowhere.
func TestReadCode_SaysWhereABadCodeCameFrom(t *testing.T) {
	tests := []struct {
		name, process, stdin string
		want                 string // "" for no error
	}{
		{"process prints the code", "echo 123456", "", ""},
		{"process prints a prompt too", `printf 'Touch your key\n123456\n'`, "",
			"the MFA code must be 6 digits, and mfa_process of profile dev gave 2 lines: make it print the code alone, or pass --code"},
		{"process prints nothing", "true", "",
			"the MFA code must be 6 digits, and mfa_process of profile dev gave nothing: make it print the code alone, or pass --code"},
		{"process prints a sentence", "echo your code is 123456", "",
			"the MFA code must be 6 digits, and mfa_process of profile dev gave 19 characters: make it print the code alone, or pass --code"},
		{"standard input", "", "123456\n", ""},
		{"standard input, 5 digits", "", "12345\n",
			"the MFA code must be 6 digits, and standard input gave 5 characters: type the code your MFA device shows now, or pass --code"},
		{"standard input, a secret", "", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
			"the MFA code must be 6 digits, and standard input gave 40 characters: type the code your MFA device shows now, or pass --code"},
		{"standard input, letters", "", "abcdef\n",
			"the MFA code must be 6 digits, and standard input gave 6 characters that are not all digits: type the code your MFA device shows now, or pass --code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			e := &env{stdin: strings.NewReader(tt.stdin), stdout: io.Discard, stderr: &stderr}
			code, err := e.readCode(context.Background(), control.LoginNeeds{Profile: "dev", Kind: "mfa", MFAProcess: tt.process})
			switch {
			case tt.want == "" && (err != nil || code != "123456"):
				t.Errorf("readCode(%q, %q) = %q, %v, want 123456", tt.process, tt.stdin, code, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("readCode(%q, %q) = %v, want %q", tt.process, tt.stdin, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "EXAMPLEKEY") {
				t.Errorf("readCode(%q, %q) = %v, which quotes its input", tt.process, tt.stdin, err)
			}
		})
	}
}

// TestLogin_CodeFlagRefusedFirst checks that a --code that is not 6
// digits is refused before the daemon is asked, with what to do.
func TestLogin_CodeFlagRefusedFirst(t *testing.T) {
	t.Setenv("BROKERD_STATE_DIR", t.TempDir())
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"login", "dev", "--code", "12345"}, strings.NewReader(""), &stdout, &stderr)
	want := "the MFA code must be 6 digits, and --code gave 5 characters: pass the code your MFA device shows now"
	if err == nil || err.Error() != want {
		t.Errorf("brokerd login dev --code 12345 = %v, want %q", err, want)
	}
}

// logoutDaemon answers logout as the daemon does for a config with an MFA
// source dev (sessions: whether it has one open) and a profile plain
// without mfa_serial; other names are not found.
type logoutDaemon struct {
	control.Service
	sessions []control.Session
}

func (d logoutDaemon) LoginNeeds(_ context.Context, name string) (control.LoginNeeds, error) {
	switch name {
	case "dev":
		return control.LoginNeeds{Profile: "dev", Kind: "mfa", MFASerial: "arn:aws:iam::111111111111:mfa/alice"}, nil
	case "plain":
		return control.LoginNeeds{}, &fault.Error{Kind: fault.InvalidConfig, Message: `profile "plain" has no mfa_serial`}
	}
	return control.LoginNeeds{}, &fault.Error{Kind: fault.NotFound, Code: "ProfileNotFound", Message: `profile "` + name + `" is not in the AWS config file`}
}

func (d logoutDaemon) Status(context.Context) (control.Status, error) {
	return control.Status{Profiles: []control.Profile{}, Sessions: d.sessions}, nil
}

func (d logoutDaemon) Logout(_ context.Context, name string) (string, error) {
	if name == "dev" || name == "plain" {
		return name, nil
	}
	return "", &fault.Error{Kind: fault.NotFound, Code: "ProfileNotFound", Message: `profile "` + name + `" is not in the AWS config file`}
}

// TestLogout_SaysWhetherASessionWasOpen checks that logout says it closed
// an MFA session only when there was one: a second logout, or one of a
// profile without mfa_serial, said "closed the MFA session of profile dev"
// and "removed the stored session plain". A name it does not know is
// refused in one line.
func TestLogout_SaysWhetherASessionWasOpen(t *testing.T) {
	open := []control.Session{{Profile: "dev", MFASerial: "arn:aws:iam::111111111111:mfa/alice", Expires: time.Now().Add(time.Hour)}}
	tests := []struct {
		name     string
		sessions []control.Session
		want     string
		err      string
	}{
		{"dev", open, "closed the MFA session of profile dev\n", ""},
		{"dev", nil, "profile dev had no MFA session open: nothing to close\n", ""},
		{"plain", nil, "profile plain had no MFA session open: nothing to close\n", ""},
		{"nosuch", nil, "", `profile "nosuch" is not in the AWS config file (was nosuch a profile with sso_start_url`},
	}
	for _, tt := range tests {
		w := newShellWorld(t)
		w.serve(t, logoutDaemon{sessions: tt.sessions})
		var stdout, stderr strings.Builder
		err := run(context.Background(), []string{"logout", tt.name}, strings.NewReader(""), &stdout, &stderr)
		if tt.err == "" && (err != nil || stdout.String() != tt.want) {
			t.Errorf("brokerd logout %s with sessions %v = %q, %v, want %q", tt.name, tt.sessions, stdout.String(), err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n")) {
			t.Errorf("brokerd logout %s = %v, want one line saying %q", tt.name, err, tt.err)
		}
	}
}

// TestUnnamed_DefaultProfileMissing checks that login, logout and console
// given no profile, when the daemon's default profile does not exist, say
// that the default was taken and how to name one: logout printed "(was  a
// profile with sso_start_url …", an empty name, and none said why a
// profile nobody typed was looked for.
func TestUnnamed_DefaultProfileMissing(t *testing.T) {
	w := newShellWorld(t)
	w.serve(t, logoutDaemon{})
	for _, command := range []string{"login", "logout"} {
		err := run(context.Background(), []string{command}, strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
		want := `profile "" is not in the AWS config file; brokerd ` + command + ` without a profile takes the daemon's default profile: name one, brokerd ` + command + ` PROFILE`
		if err == nil || err.Error() != want {
			t.Errorf("brokerd %s = %v, want %q", command, err, want)
		}
	}
}
