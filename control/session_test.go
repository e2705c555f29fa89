package control_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
)

// TestSession_LoginDue checks that the next login is due when the daemon
// says it stops using the session, and 70 s before the session's end when
// a daemon older than used_until says nothing.
func TestSession_LoginDue(t *testing.T) {
	end := time.Date(2026, 11, 22, 20, 0, 55, 0, time.UTC)
	tests := []struct {
		name string
		s    control.Session
		want time.Time
	}{
		{"daemon sends used_until", control.Session{Expires: end, UsedUntil: end.Add(-2 * time.Minute)}, end.Add(-2 * time.Minute)},
		{"older daemon", control.Session{Expires: end}, time.Date(2026, 11, 22, 19, 59, 45, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := tt.s.LoginDue(); !got.Equal(tt.want) {
			t.Errorf("%s: %+v.LoginDue() = %v, want %v", tt.name, tt.s, got, tt.want)
		}
	}
}

// TestSession_JSON checks used_until on the wire: sent when set, left out
// when zero, and a session from an older daemon, without it, still reads.
func TestSession_JSON(t *testing.T) {
	end := time.Date(2026, 11, 22, 20, 0, 55, 0, time.UTC)
	s := control.Session{Profile: "dev", MFASerial: "arn:aws:iam::111111111111:mfa/alice", Expires: end, UsedUntil: end.Add(-70 * time.Second)}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"used_until":"2026-11-22T19:59:45Z"`; !strings.Contains(string(b), want) {
		t.Errorf("json.Marshal(%+v) = %s, want it to contain %s", s, b, want)
	}
	var back control.Session
	if err := json.Unmarshal(b, &back); err != nil || back != s {
		t.Errorf("json.Unmarshal(%s) = %+v, %v, want %+v", b, back, err, s)
	}
	if b, _ := json.Marshal(control.Session{Profile: "dev", Expires: end}); strings.Contains(string(b), "used_until") {
		t.Errorf("json.Marshal(a session without UsedUntil) = %s, want no used_until", b)
	}
	old := `{"profile":"dev","mfa_serial":"arn:aws:iam::111111111111:mfa/alice","expires":"2026-11-22T20:00:55Z"}`
	var got control.Session
	if err := json.Unmarshal([]byte(old), &got); err != nil {
		t.Fatal(err)
	}
	if want := end.Add(-70 * time.Second); !got.UsedUntil.IsZero() || !got.LoginDue().Equal(want) {
		t.Errorf("an older daemon's session %s: UsedUntil %v, LoginDue() %v, want zero and %v", old, got.UsedUntil, got.LoginDue(), want)
	}
}
