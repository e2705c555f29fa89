package audit_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/audit"
)

// line is an event as the log holds it, at t0 plus minutes.
func line(minutes int, kind, profile string) string {
	t := t0.Add(time.Duration(minutes) * time.Minute).Format(time.RFC3339Nano)
	return `{"time":"` + t + `","event":"` + kind + `","profile":"` + profile + `","status":200}` + "\n"
}

// repeats is a line of requests from t0 plus from until to minutes.
func repeats(from, to int, profile string) string {
	at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339Nano) }
	return `{"time":"` + at(from) + `","until":"` + at(to) + `","count":9,"event":"issued","profile":"` + profile + `","status":200}` + "\n"
}

// logDir writes rotated files out of order of their names, a current
// file, and files that are not the log's.
func logDir(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"audit-2026-12-01T19-10-00.000.log":    line(10, "issued", "dev") + line(11, "refused", "prod"),
		"audit-2026-12-01T18-59-00.000.log":    line(0, "issued", "dev") + line(1, "issued", "prod"),
		"audit.log":                            line(20, "issued", "dev") + "\n" + line(21, "refused", "dev") + repeats(22, 30, "prod"),
		"audit-notatime.log":                   line(5, "issued", "dev"),
		"other.log":                            line(6, "issued", "dev"),
		"audit-2026-12-01T18-00-00.000.log.gz": "\x1f\x8b",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRead(t *testing.T) {
	dir := logDir(t)
	tests := []struct {
		name string
		f    audit.Filter
		want string // minutes and profiles
	}{
		{"all", audit.Filter{}, "0 dev, 1 prod, 10 dev, 11 prod, 20 dev, 21 dev, 22 prod"},
		{"since", audit.Filter{Since: t0.Add(10 * time.Minute)}, "10 dev, 11 prod, 20 dev, 21 dev, 22 prod"},
		{"since, another zone", audit.Filter{Since: t0.Add(11 * time.Minute).In(time.FixedZone("X", -5*3600))}, "11 prod, 20 dev, 21 dev, 22 prod"},
		{"since, during repeats", audit.Filter{Since: t0.Add(25 * time.Minute)}, "22 prod"},
		{"since, after repeats", audit.Filter{Since: t0.Add(31 * time.Minute)}, ""},
		{"profile", audit.Filter{Profile: "prod"}, "1 prod, 11 prod, 22 prod"},
		{"both", audit.Filter{Since: t0.Add(time.Minute + time.Second), Profile: "prod"}, "11 prod, 22 prod"},
		{"none", audit.Filter{Profile: "nope"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := audit.Read(dir, tt.f)
			if err != nil {
				t.Fatalf("Read(%+v) = %v", tt.f, err)
			}
			if got := summary(events); got != tt.want {
				t.Errorf("Read(%+v) = %s, want %s", tt.f, got, tt.want)
			}
		})
	}
}

// summary shows events as "minutes after t0, profile".
func summary(events []audit.Event) string {
	var s []string
	for _, e := range events {
		s = append(s, fmt.Sprintf("%d %s", e.Time.Sub(t0)/time.Minute, e.Profile))
	}
	return strings.Join(s, ", ")
}

// A line that is not an event is named in the error, one line that wraps
// ErrBadLines; the others are read.
func TestRead_BadLines(t *testing.T) {
	tests := []struct {
		name, data string
		events     int
		want       string
	}{
		{"some", line(0, "issued", "dev") + "{not json\n" + `{"profile":"x"}` + "\n" + line(1, "issued", "dev") + `{"time":"2026-`,
			2, "audit.log line 2, audit.log line 3, audit.log line 5: not audit events"},
		{"many", strings.Repeat("x\n", 12) + line(0, "issued", "dev"),
			1, "audit.log line 1, audit.log line 2, audit.log line 3, audit.log line 4, audit.log line 5, audit.log line 6, audit.log line 7, audit.log line 8, audit.log line 9, audit.log line 10 and 2 more lines: not audit events"},
		// A crash can leave a run of NUL bytes longer than any line (the
		// file's size was written, its blocks were not); reading stopped
		// there, with no event shown.
		{"longer than a line", line(0, "issued", "dev") + strings.Repeat("\x00", 3<<20) + "\n" + line(1, "issued", "dev") + strings.Repeat("y", 2<<20),
			2, "audit.log line 2, audit.log line 4: not audit events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, audit.FileName), []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			events, err := audit.Read(dir, audit.Filter{})
			if len(events) != tt.events {
				t.Errorf("Read = %d events, want the %d good ones", len(events), tt.events)
			}
			if !errors.Is(err, audit.ErrBadLines) || err.Error() != tt.want {
				t.Errorf("Read error = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestRead_NoLog(t *testing.T) {
	events, err := audit.Read(filepath.Join(t.TempDir(), "missing"), audit.Filter{})
	if err != nil || len(events) != 0 {
		t.Errorf("Read(missing dir) = %v, %v; want nothing, nil", events, err)
	}
}

// A rotation while Read reads (the current file renamed, a new one
// begun, as lumberjack does) leaves no gap in the events it returns.
func TestRead_WhileRotating(t *testing.T) {
	dir := t.TempDir()
	current := filepath.Join(dir, audit.FileName)
	const lines, perFile = 3000, 10
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < lines && err == nil; i++ {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			if i%perFile == 0 && i > 0 {
				err = os.Rename(current, filepath.Join(dir, "audit-"+at.Format("2006-01-02T15-04-05.000")+".log"))
				time.Sleep(time.Millisecond) // far more often than at 10 MB
			}
			if err == nil {
				err = appendLine(current, `{"time":"`+at.Format(time.RFC3339Nano)+`","event":"issued","profile":"p`+strconv.Itoa(i)+`","status":200}`)
			}
		}
		done <- err
	}()
	for reads := 1; ; reads++ {
		events, err := audit.Read(dir, audit.Filter{})
		if g := gap(events); err != nil || g != "" {
			t.Errorf("read %d, while rotating: %v %s", reads, err, g)
			<-done
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

// gap describes the first event that is not the next of p0, p1, p2…
func gap(events []audit.Event) string {
	for i, e := range events {
		if e.Profile != "p"+strconv.Itoa(i) {
			return fmt.Sprintf("event %d is %s, want p%d: a gap", i, e.Profile, i)
		}
	}
	return ""
}

func appendLine(name, line string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}

// An investigation starts from the key id CloudTrail names: Filter.KeyID
// chooses the events that served it, given whole or masked.
func TestRead_KeyID(t *testing.T) {
	dir := t.TempDir()
	served := func(minutes int, profile, key string) string {
		at := t0.Add(time.Duration(minutes) * time.Minute).Format(time.RFC3339Nano)
		return `{"time":"` + at + `","event":"issued","profile":"` + profile + `","key_id":"` + audit.MaskKey(key) + `","status":200}` + "\n"
	}
	data := served(0, "prod", "ASIAAAAAAAAAAAAA1111") + served(1, "prod", "ASIABBBBBBBBBBBB2222") +
		line(2, "refused", "prod") + served(3, "dev", "ASIAAAAAAAAAAAAA1111") + served(4, "prod", "ASIACCCCCCCCCCCC1111")
	if err := os.WriteFile(filepath.Join(dir, audit.FileName), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    audit.Filter
		want string
	}{
		// The log holds keys masked: one alike in its first and last four
		// characters is chosen too (at 4).
		{audit.Filter{KeyID: "ASIAAAAAAAAAAAAA1111"}, "0 prod, 3 dev, 4 prod"},
		{audit.Filter{KeyID: "ASIA…1111"}, "0 prod, 3 dev, 4 prod"},
		{audit.Filter{KeyID: " ASIA...2222 "}, "1 prod"},
		{audit.Filter{KeyID: "ASIAAAAAAAAAAAAA1111", Profile: "dev"}, "3 dev"},
		{audit.Filter{KeyID: "ASIADDDDDDDDDDDD4444"}, ""},
	}
	for _, tt := range tests {
		events, err := audit.Read(dir, tt.f)
		if got := summary(events); err != nil || got != tt.want {
			t.Errorf("Read(%+v) = %s, %v; want %s", tt.f, got, err, tt.want)
		}
	}
}

// "Who used prod at 14:02?": Filter.At chooses the issuances whose
// credentials were still valid then, served before it (the aws CLI of an
// hour ago, a service that fetched once) as well as at it; --since alone
// leaves out those served before it, and shows every later one.
func TestRead_At(t *testing.T) {
	dir := t.TempDir()
	served := func(minutes, valid int, profile string) string {
		at := func(m int) string { return t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339Nano) }
		return `{"time":"` + at(minutes) + `","event":"issued","profile":"` + profile + `","expires":"` + at(minutes+valid) + `","status":200}` + "\n"
	}
	data := served(0, 15, "prod") + served(10, 60, "prod") + served(20, 60, "dev") + line(30, "refused", "prod") +
		served(30, 60, "prod") + served(31, 60, "prod")
	if err := os.WriteFile(filepath.Join(dir, audit.FileName), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(30 * time.Minute)
	tests := []struct {
		f    audit.Filter
		want string
	}{
		{audit.Filter{At: at}, "10 prod, 20 dev, 30 prod"},
		{audit.Filter{At: at, Profile: "prod"}, "10 prod, 30 prod"},
		{audit.Filter{At: at, Since: t0.Add(15 * time.Minute)}, "20 dev, 30 prod"},
		{audit.Filter{At: t0.Add(-time.Minute)}, ""},
	}
	for _, tt := range tests {
		events, err := audit.Read(dir, tt.f)
		if got := summary(events); err != nil || got != tt.want {
			t.Errorf("Read(%+v) = %s, %v; want %s", tt.f, got, err, tt.want)
		}
	}
}
