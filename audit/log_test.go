package audit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/brokerd/brokerd/audit"
)

var t0 = time.Date(2026, 12, 1, 18, 54, 12, 123456789, time.UTC)

const (
	keyID  = "ASIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func issued(profile string) audit.Event {
	return audit.Event{
		Kind: audit.Issued, Profile: profile, RoleARN: "arn:aws:iam::123456789012:role/dev",
		KeyID: keyID, Expires: t0.Add(time.Hour), Status: 200,
		Client: &audit.Client{PID: 1234, Exe: "/usr/bin/aws", UID: 1000},
	}
}

func refused(profile string) audit.Event {
	return audit.Event{
		Kind: audit.Refused, Profile: profile, Status: 404, Code: "ProfileNotFound",
		Container: &audit.Container{ID: "0123456789abcdef0123", Label: "web"},
	}
}

func open(t *testing.T, dir string, cfg audit.Config) *audit.Log {
	t.Helper()
	l, err := audit.Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open(%q) = %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLog_RoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	clock := clockwork.NewFakeClockAt(t0.In(time.FixedZone("CET", 3600)))
	l := open(t, dir, audit.Config{Clock: clock})
	l.Record(issued("dev"))
	clock.Advance(time.Second)
	l.Record(refused("prod"))
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	got, err := audit.Read(dir, audit.Filter{})
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	want := []audit.Event{issued("dev"), refused("prod")}
	want[0].Time, want[0].KeyID = t0, "ASIA…MPLE"
	want[1].Time = t0.Add(time.Second)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read = %+v\nwant %+v", got, want)
	}

	data, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(string(data), "\n", 2)[0]
	const wantLine = `{"time":"2026-12-01T18:54:12.123456789Z","event":"issued","profile":"dev","role_arn":"arn:aws:iam::123456789012:role/dev","key_id":"ASIA…MPLE","expires":"2026-12-01T19:54:12.123456789Z","status":200,"client":{"pid":1234,"exe":"/usr/bin/aws","uid":1000}}`
	if line != wantLine {
		t.Errorf("first line = %s\nwant %s", line, wantLine)
	}
}

// The log holds the masked key id and nothing else of the credentials,
// and Event has no field where a secret could go.
func TestLog_NoSecrets(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Config{})
	e := issued("dev")
	e.RoleARN = "arn:aws:iam::123456789012:role/" + strings.Repeat("r", 10)
	l.Record(e)
	l.Close()
	data, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{keyID, keyID[4:16]} {
		if strings.Contains(string(data), s) {
			t.Errorf("audit log holds %q: %s", s, data)
		}
	}
	if !strings.Contains(string(data), `"key_id":"ASIA…MPLE"`) {
		t.Errorf("audit log lacks the masked key id: %s", data)
	}

	var names []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			names = append(names, t.Name()+"."+f.Name)
			if ft := f.Type; ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
				walk(ft.Elem())
			}
		}
	}
	walk(reflect.TypeFor[audit.Event]())
	want := []string{"Event.Time", "Event.Kind", "Event.Profile", "Event.RoleARN", "Event.KeyID", "Event.Expires",
		"Event.Status", "Event.Code", "Event.Client", "Client.PID", "Client.Exe", "Client.UID", "Client.MountNS",
		"Event.Container", "Container.ID", "Container.Label", "Container.IP",
		"Event.Count", "Event.Until", "Event.Note"}
	if !slices.Equal(names, want) {
		t.Errorf("Event's fields are %v, want %v: a new field must not be able to hold a secret (a secret key, a session token, a command line)", names, want)
	}
}

func TestMaskKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ASIAIOSFODNN7EXAMPLE", "ASIA…MPLE"},
		{"AKIAIOSFODNN7EXAMPLE", "AKIA…MPLE"},
		{"ASIA…MPLE", "ASIA…MPLE"},
		{"short", "…"},
		{"", ""},
		{secret, "wJal…EKEY"},
	} {
		if got := audit.MaskKey(tt.in); got != tt.want {
			t.Errorf("MaskKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func mode(t *testing.T, name string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// Rotation keeps every file 0600 in a 0700 directory, even where the
// directory and file were there before with wider modes, and Read reads
// across the rotated files in order.
func TestLog_Rotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, audit.FileName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 5000 // about 1.3 MB: one rotation at MaxSize 1
	clock := clockwork.NewFakeClockAt(t0)
	l := open(t, dir, audit.Config{MaxSize: 1, MaxBackups: 3, Buffer: n, Clock: clock})
	for i := range n {
		e := issued(fmt.Sprintf("p%d", i))
		e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		l.Record(e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if d := l.Dropped(); d != 0 {
		t.Fatalf("Dropped() = %d, want 0", d)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("directory mode = %v, want 0700", m)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 2 {
		t.Fatalf("files after writing %d events at MaxSize 1 = %v, want a rotated one too", n, ents)
	}
	for _, e := range ents {
		if m := mode(t, filepath.Join(dir, e.Name())); m != 0o600 {
			t.Errorf("%s mode = %v, want 0600", e.Name(), m)
		}
		if e.Name() != audit.FileName && e.Name() != audit.LockName && !strings.HasPrefix(e.Name(), "audit-") {
			t.Errorf("unexpected file %s", e.Name())
		}
	}
	got, err := audit.Read(dir, audit.Filter{})
	if err != nil || len(got) != n {
		t.Fatalf("Read = %d events, %v; want %d", len(got), err, n)
	}
	for i, e := range got {
		if want := fmt.Sprintf("p%d", i); e.Profile != want {
			t.Fatalf("event %d is %s's, want %s's", i, e.Profile, want)
		}
	}
}

// Close returns once every event recorded before it is in the file and the
// writer has stopped; later events are dropped.
func TestLog_CloseWaits(t *testing.T) {
	defer goleak.VerifyNone(t, lumberjackMill)
	dir := t.TempDir()
	l, err := audit.Open(dir, audit.Config{Buffer: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		l.Record(issued("dev"))
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	got, err := audit.Read(dir, audit.Filter{})
	if err != nil || len(got) != 2000 {
		t.Errorf("after Close, Read = %d events, %v; want 2000", len(got), err)
	}
	l.Record(issued("dev"))
	if d := l.Dropped(); d != 1 {
		t.Errorf("Dropped() after a Record past Close = %d, want 1", d)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
}

func TestOpen_Fails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := audit.Open(filepath.Join(file, "audit"), audit.Config{}); err == nil {
		l.Close()
		t.Errorf("Open(under a file) = nil error, want one")
	}
}

// BenchmarkLog_Record is the cost on the request path: a stamp, a mask and
// a send on a channel.
func BenchmarkLog_Record(b *testing.B) {
	l, err := audit.Open(b.TempDir(), audit.Config{Buffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := issued("dev")
	for b.Loop() {
		l.Record(e)
	}
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}
