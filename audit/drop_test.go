package audit

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// stuckWriter holds its first Write until released, then fails or keeps
// what it is given.
type stuckWriter struct {
	started chan struct{}
	release chan struct{}
	fail    error
	mu      sync.Mutex
	data    strings.Builder
	once    sync.Once
}

var _ interface {
	Write([]byte) (int, error)
	Close() error
} = (*stuckWriter)(nil)

func newStuck(fail error) *stuckWriter {
	return &stuckWriter{started: make(chan struct{}), release: make(chan struct{}), fail: fail}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started); <-w.release })
	if w.fail != nil {
		return 0, w.fail
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.data.Write(p)
}

func (w *stuckWriter) Close() error { return nil }

// With the writer stuck, Record fills the buffer and then drops, counting;
// the writer logs the count once it has caught up.
func TestLog_DropsWhenFull(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	w := newStuck(nil)
	l := start(w, Config{Buffer: 2, Log: zap.New(core)})
	l.Record(Event{Kind: Issued, Profile: "p1"})
	<-w.started // the writer holds p1
	for _, p := range []string{"p2", "p3", "p4", "p5", "p6"} {
		l.Record(Event{Kind: Issued, Profile: p})
	}
	if d := l.Dropped(); d != 3 {
		t.Errorf("Dropped() with a buffer of 2 and 5 events waiting = %d, want 3", d)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p1", "p2", "p3"} {
		if !strings.Contains(w.data.String(), `"profile":"`+p+`"`) {
			t.Errorf("written = %s, want %s's event", w.data.String(), p)
		}
	}
	if strings.Contains(w.data.String(), "p4") {
		t.Errorf("written = %s, want no dropped event", w.data.String())
	}
	found := logs.FilterMessage("audit events dropped: buffer full").All()
	if len(found) != 1 || found[0].ContextMap()["dropped"] != uint64(3) {
		t.Errorf("drop logs = %+v, want one with dropped=3", found)
	}
}

// A failing disk is logged when it starts failing and the lost events are
// counted, without a line per event.
func TestLog_WriteFailure(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	w := newStuck(errors.New("disk full"))
	l := start(w, Config{Buffer: 10, Log: zap.New(core)})
	l.Record(Event{Kind: Issued, Profile: "p1"})
	<-w.started
	for range 3 {
		l.Record(Event{Kind: Issued, Profile: "p"})
	}
	close(w.release)
	l.Close()
	if n := logs.FilterMessage("write audit log").Len(); n != 1 {
		t.Errorf("write failures logged %d times, want 1", n)
	}
	lost := logs.FilterMessage("audit events not written").All()
	if len(lost) != 1 || lost[0].ContextMap()["events_lost"] != uint64(4) {
		t.Errorf("lost events logs = %+v, want one with events_lost=4", lost)
	}
}

// fullDisk keeps part of its first write and fails, as a write that runs
// out of space does, then closes failed and keeps what it is given.
type fullDisk struct {
	mu     sync.Mutex
	data   strings.Builder
	failed chan struct{}
}

func (w *fullDisk) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.failed:
		return w.data.Write(p)
	default:
		n, _ := w.data.Write(p[:len(p)/2])
		close(w.failed)
		return n, errors.New("no space left on device")
	}
}

func (w *fullDisk) Close() error { return nil }

// A write cut short leaves part of a line; the line written next starts on
// a line of its own, rather than being lost with it.
func TestLog_TornWrite(t *testing.T) {
	w := &fullDisk{failed: make(chan struct{})}
	l := start(w, Config{})
	l.Record(Event{Kind: Issued, Profile: "lost"})
	<-w.failed
	l.Record(Event{Kind: Issued, Profile: "kept"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	whole := func(s string) bool {
		var e Event
		return json.Unmarshal([]byte(s), &e) == nil && e.Profile == "kept"
	}
	if !slices.ContainsFunc(strings.Split(w.data.String(), "\n"), whole) {
		t.Errorf("written after a torn write:\n%s\nwant kept's event on a line of its own", w.data.String())
	}
}
