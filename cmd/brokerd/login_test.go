package main

import (
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
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
