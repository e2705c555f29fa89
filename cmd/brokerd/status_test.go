package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/deploy"
)

// TestPrintStatus_SessionEnd checks that an MFA session shows as ended from
// when the daemon stops using it, SessionMinLeft before it expires.
func TestPrintStatus_SessionEnd(t *testing.T) {
	now := time.Date(2026, 11, 22, 19, 58, 55, 0, time.Local)
	tests := []struct {
		left time.Duration
		want []string
		not  string
	}{
		{2 * time.Minute, []string{"2m0s", "next login due: 2026-11-22 20:00:55 (in 2m0s): brokerd login dev"}, "login due now"},
		{65 * time.Second, []string{"expired", "login due now: brokerd login dev"}, "next login due"},
		{-time.Hour, []string{"expired", "login due now: brokerd login dev"}, "next login due"},
	}
	for _, tt := range tests {
		st := control.Status{Endpoint: "http://127.0.0.1:9911", PID: 7, Started: now.Add(-time.Hour),
			Sessions: []control.Session{{Profile: "dev", MFASerial: "arn:aws:iam::111111111111:mfa/alice", Expires: now.Add(tt.left)}}}
		var b strings.Builder
		printStatus(&b, st, now)
		for _, want := range tt.want {
			if !strings.Contains(b.String(), want) {
				t.Errorf("printStatus() with %s left = %q, want it to contain %q", tt.left, b.String(), want)
			}
		}
		if strings.Contains(b.String(), tt.not) {
			t.Errorf("printStatus() with %s left = %q, want no %q", tt.left, b.String(), tt.not)
		}
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
