package audit_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func formatted() []audit.Event {
	a := issued("dev")
	a.Time, a.KeyID = t0, "ASIA…MPLE"
	b := refused("prod")
	b.Time = t0.Add(time.Minute)
	c := issued("dev")
	c.Time, c.KeyID, c.Client = t0.Add(2*time.Minute), "ASIA…MPLE", &audit.Client{UID: 1001}
	d := refused("ops")
	d.Time, d.Container, d.Code = t0.Add(3*time.Minute), &audit.Container{ID: "abc123"}, ""
	e := issued("ci")
	e.Time, e.Container = t0.Add(4*time.Minute), &audit.Container{ID: "0123456789abcdef", Label: "runner"}
	// e.KeyID is left whole: Format masks it.
	f := issued("dev")
	f.Time, f.KeyID, f.Client = t0.Add(5*time.Minute), "ASIA…MPLE", &audit.Client{UID: 1000}
	f.Note = "client not looked up: too many new connections"
	return []audit.Event{a, b, c, d, e, f}
}

// golden compares got with testdata/name, which -update rewrites.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Format output differs from %s:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestFormat(t *testing.T) {
	defer audit.SetZone(time.FixedZone("CET", 3600))() // the table shows local times
	defer audit.SetEUID(1000)()                        // the clients' user reads
	for _, tt := range []struct {
		name string
		json bool
	}{{"table.golden", false}, {"jsonl.golden", true}} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := audit.Format(&b, formatted(), tt.json); err != nil {
				t.Fatalf("Format = %v", err)
			}
			if bytes.Contains(b.Bytes(), []byte(keyID)) {
				t.Errorf("Format wrote the whole key id %s", keyID)
			}
			golden(t, tt.name, b.Bytes())
		})
	}
}

// Names from clients (a requested profile, an executable's path, a token's
// label) are shown quoted when they hold characters a terminal would act
// on, so that none can forge a line, a column or colours.
func TestFormat_Unprintable(t *testing.T) {
	forged := "x\n2026-12-02 06:00:00  issued  prod  pid 1 /usr/bin/aws  -"
	events := []audit.Event{
		{Time: time.Unix(0, 0), Kind: audit.Refused, Profile: forged, Code: "Missing\tToken",
			Client: &audit.Client{PID: 7, Exe: "/tmp/a\x1b[31mred\x1b[0m"}},
		{Time: time.Unix(0, 0), Kind: audit.Issued, Profile: "prod",
			Container: &audit.Container{ID: "abc\r", Label: "web\nfake"}},
		{Time: time.Unix(0, 0), Kind: audit.Refused, Note: "lookup\afailed"},
	}
	var b bytes.Buffer
	if err := audit.Format(&b, events, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "\n"); n != 4 || strings.ContainsAny(out, "\x1b\t\r\a") {
		t.Errorf("Format wrote %d lines, or a control character:\n%q", n, out)
	}
	for _, want := range []string{`"x\n2026-12-02`, `"/tmp/a\x1b[31mred\x1b[0m"`, `"Missing\tToken"`, `"web\nfake"`, `"abc\r"`, `"lookup\afailed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("Format output lacks %s:\n%s", want, out)
		}
	}
}

// A process of another user than the one reading (root, who can read the
// token file) is shown with its uid: someone else got the credentials.
// The table showed it as any of the user's own.
func TestFormat_OtherUser(t *testing.T) {
	defer audit.SetEUID(1000)()
	events := []audit.Event{
		{Time: t0, Kind: audit.Issued, Profile: "prod", Client: &audit.Client{PID: 7, Exe: "/usr/bin/aws", UID: 0}},
		{Time: t0, Kind: audit.Issued, Profile: "prod", Client: &audit.Client{PID: 8, Exe: "/usr/bin/aws", UID: 1000}},
		{Time: t0, Kind: audit.Issued, Profile: "prod", Client: &audit.Client{PID: 9, Exe: "/usr/bin/aws", UID: 1000, MountNS: "mnt:[4026532512]"}},
	}
	var b bytes.Buffer
	if err := audit.Format(&b, events, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], "pid 7 /usr/bin/aws (uid 0)") || strings.Contains(lines[2], "uid") {
		t.Errorf("Format read by uid 1000 =\n%s\nwant pid 7 shown with its uid 0, pid 8 without", b.String())
	}
	// A process in a container with the host's network: its executable is
	// a path in the container's files.
	if !strings.Contains(lines[3], "pid 9 /usr/bin/aws (in mnt:[4026532512])") {
		t.Errorf("Format =\n%s\nwant pid 9 shown in its mount namespace", b.String())
	}
}

// The JSON lines that Format writes are the log's own: Read takes them.
func TestFormat_JSONReads(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	if err := audit.Format(&b, formatted(), true); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, audit.FileName), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := audit.Read(dir, audit.Filter{})
	if err != nil || len(got) != len(formatted()) {
		t.Errorf("Read(Format's JSON) = %d events, %v; want %d", len(got), err, len(formatted()))
	}
}

func TestParseSince(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	now := time.Date(2026, 12, 2, 10, 30, 0, 0, cet)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{"30m", now.Add(-30 * time.Minute)},
		{"2h30m", now.Add(-150 * time.Minute)},
		{" 90s ", now.Add(-90 * time.Second)},
		{"7d", time.Date(2026, 11, 25, 10, 30, 0, 0, cet)},
		{"36500d", time.Date(1926, 12, 27, 10, 30, 0, 0, cet)},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, cet)},
		{"2026-12-01 19:54:12", time.Date(2026, 12, 1, 19, 54, 12, 0, cet)}, // as the table shows it
		{"2026-12-01T18:54:12Z", time.Date(2026, 12, 1, 18, 54, 12, 0, time.UTC)},
		{"2026-12-01T19:54:12.5+01:00", time.Date(2026, 12, 1, 18, 54, 12, 5e8, time.UTC)},
		{"09:02", time.Date(2026, 12, 2, 9, 2, 0, 0, cet)}, // today's
		{"10:30:00", now}, // now is today's
		{"14:02", time.Date(2026, 12, 1, 14, 2, 0, 0, cet)},      // today's is to come: yesterday's
		{"23:59:59", time.Date(2026, 12, 1, 23, 59, 59, 0, cet)}, // the same
	}
	for _, tt := range tests {
		got, err := audit.ParseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "yesterday", "-1h", "0s", "0d", "1w", "2026-13-01", "12/01/2026", "2026-12-01 18:54", "25:00", "9:2"} {
		_, err := audit.ParseSince(in, now)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "1h") {
			t.Errorf("ParseSince(%q) = %v, want a one-line error saying what to write", in, err)
		}
	}
	// AddDate wraps around past this many days, to a time after now.
	for _, in := range []string{"36501d", "110000000000000d"} {
		_, err := audit.ParseSince(in, now)
		if err == nil || !strings.Contains(err.Error(), "at most 36500d") {
			t.Errorf("ParseSince(%q) = %v, want an error naming the limit", in, err)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"1h", "7d", "2026-12-01", "2026-12-01T18:54:12Z", "d", "-0d", "110000000000000d", "36501d"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := audit.ParseSince(s, now)
		if err == nil && got.After(now) && !strings.Contains(s, "T") && !strings.Contains(s, "-") {
			t.Errorf("ParseSince(%q) = %v, after now for a time ago", s, got)
		}
	})
}
