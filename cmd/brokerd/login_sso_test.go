package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
)

func TestPrintSSOSessions(t *testing.T) {
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.Local)
	expires := now.Add(45 * time.Minute)
	st := control.Status{SSOSessions: []control.SSOSession{
		{Name: "my-sso", StartURL: "https://my-sso.awsapps.com/start", Profiles: []string{"sso-admin", "sso-dev"}, SignedIn: true, Expires: &expires, Refreshable: true},
		{Name: "legacy", StartURL: "https://legacy.awsapps.com/start", Profiles: []string{"legacy"}},
		{Name: "locked", StartURL: "https://locked.awsapps.com/start", Error: "keychain is locked: unlock your login keychain"},
		{Name: "held", StartURL: "https://held.awsapps.com/start", SignedIn: true, Expires: &expires, Refreshable: true,
			Error: "held only in memory: the keychain refused the refreshed token"},
	}}
	var b strings.Builder
	printSSOSessions(&b, st, now)
	out := b.String()
	for _, want := range []string{
		"SSO SESSION", "my-sso", "sso-admin,sso-dev", expires.Format(time.DateTime), "45m0s (refreshed until the session ends)",
		"legacy", "not signed in: brokerd login legacy", "keychain is locked",
		// Signed in, with a warning.
		"45m0s (refreshed until the session ends); held only in memory: the keychain refused the refreshed token",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printSSOSessions() = %q, want %q in it", out, want)
		}
	}
	b.Reset()
	printSSOSessions(&b, control.Status{}, now)
	if b.Len() != 0 {
		t.Errorf("printSSOSessions() without sessions = %q, want nothing", b.String())
	}
}

func TestOpenBrowser(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no shell scripts")
	}
	dir := t.TempDir()
	got := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "browser")
	// It notes its process group and the URL.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nps -o pgid= -p $$ > "+got+".pgid\nprintf '%s' \"$1\" > "+got+".tmp && mv "+got+".tmp "+got+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", script)
	const url = "https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH"
	if !openBrowser(url) {
		t.Fatalf("openBrowser() with BROWSER=%s = false, want true", script)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(got)
		if err == nil {
			if string(b) != url {
				t.Errorf("the browser got %q, want %q", b, url)
			}
			// Out of the terminal's process group: a Ctrl-C of brokerd
			// login must not reach the browser it opened.
			pgid, err := os.ReadFile(got + ".pgid")
			if g, _ := strconv.Atoi(strings.TrimSpace(string(pgid))); err != nil || g == 0 || g == syscall.Getpgrp() {
				t.Errorf("the browser runs in process group %q (%v), want one of its own, not brokerd's %d", pgid, err, syscall.Getpgrp())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the browser was not run within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// No browser is no error: the caller prints the URL instead.
	t.Setenv("BROWSER", filepath.Join(dir, "missing"))
	if openBrowser(url) {
		t.Error("openBrowser() with a missing BROWSER = true, want false")
	}
	if runtime.GOOS == "linux" {
		t.Setenv("BROWSER", "")
		t.Setenv("DISPLAY", "")
		t.Setenv("WAYLAND_DISPLAY", "")
		if openBrowser(url) {
			t.Error("openBrowser() without a display = true, want false")
		}
	}
}

// TestBrowserCommand checks that $BROWSER is read as Python's webbrowser
// (the aws CLI's) and xdg-open read it: a colon-separated list, the first
// installed taken, %s standing for the URL.
func TestBrowserCommand(t *testing.T) {
	const url = "https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH"
	installed := map[string]bool{"firefox": true, "wslview": true, "/opt/bin/browse": true}
	lookPath := func(name string) (string, error) {
		if installed[name] {
			if strings.HasPrefix(name, "/") {
				return name, nil
			}
			return "/usr/bin/" + name, nil
		}
		return "", exec.ErrNotFound
	}
	tests := []struct {
		browsers string
		want     []string
	}{
		{"firefox", []string{"/usr/bin/firefox", url}},
		{"chromium:firefox", []string{"/usr/bin/firefox", url}},
		{"wslview %s", []string{"/usr/bin/wslview", url}},
		{"chromium %s:firefox --new-window %s", []string{"/usr/bin/firefox", "--new-window", url}},
		{"/opt/bin/browse", []string{"/opt/bin/browse", url}},
		{" : chromium", nil},
	}
	for _, tt := range tests {
		if got := browserCommand(tt.browsers, url, lookPath); !slices.Equal(got, tt.want) {
			t.Errorf("browserCommand(%q) = %q, want %q", tt.browsers, got, tt.want)
		}
	}
}
