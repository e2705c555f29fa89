package main

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
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
