package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Filter chooses events; a zero field chooses all.
type Filter struct {
	Since   time.Time // events at or after, or lines of repeats whose last is
	Profile string    // events of this profile
	// At chooses the issuances whose credentials were still valid then:
	// served at or before At, expiring after it. Those are the clients
	// that may have made a call that CloudTrail shows at At, even with
	// credentials served an hour before.
	At time.Time
	// KeyID chooses the events that served this access key id, given
	// whole (from CloudTrail) or masked as the log holds it (ASIA…WXYZ,
	// or ASIA...WXYZ); the log holding keys masked, a key alike in its
	// first and last four characters is chosen too.
	KeyID string
}

// keyID is f.KeyID as the log holds it, masked; "" when f has none.
func (f Filter) keyID() string {
	if f.KeyID == "" {
		return ""
	}
	return MaskKey(strings.Replace(strings.TrimSpace(f.KeyID), "...", "…", 1))
}

// backupTime is the layout of the time in a rotated file's name.
const backupTime = "2006-01-02T15-04-05.000"

// ErrBadLines is what Read's error wraps when it skipped lines that are
// not events.
var ErrBadLines = errors.New("not audit events")

// Read returns the events in dir's audit log, rotated files and the
// current one, that f chooses, in time order. A line that is not an event
// is skipped: Read goes on and returns, with the events, an error wrapping
// ErrBadLines that names the first ten such lines. A missing directory
// holds no events.
func Read(dir string, f Filter) ([]Event, error) {
	current, names, err := snapshot(dir)
	if err != nil {
		return nil, err
	}
	if current != nil {
		defer current.Close()
	}
	var events []Event
	var bad []string
	for _, name := range names {
		evs, lines, err := readRotated(filepath.Join(dir, name), f)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
		bad = append(bad, lines...)
	}
	if current != nil {
		evs, lines, err := readFile(current, f)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
		bad = append(bad, lines...)
	}
	slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return events, badLines(bad)
}

// snapshot opens the current file (nil when there is none) and names the
// rotated files before it. A rotation while the directory is listed
// renames the file it holds open: that name is left out, as the open file
// is read to its end. A later rotation puts no file before it.
func snapshot(dir string) (current *os.File, names []string, err error) {
	if current, err = open(filepath.Join(dir, FileName)); err != nil {
		return nil, nil, err
	}
	if names, err = rotated(dir); err != nil {
		if current != nil {
			current.Close()
		}
		return nil, nil, err
	}
	if current == nil {
		return nil, names, nil
	}
	held, err := current.Stat()
	if err != nil {
		current.Close()
		return nil, nil, fmt.Errorf("read audit log: %w", err)
	}
	return current, slices.DeleteFunc(names, func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name))
		return err == nil && os.SameFile(fi, held)
	}), nil
}

// open opens a file of the log; nil when there is none.
func open(name string) (*os.File, error) {
	file, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return file, nil
}

// readRotated reads the rotated file name; none when it has been removed
// since it was listed (lumberjack keeps MaxBackups).
func readRotated(name string, f Filter) (events []Event, bad []string, err error) {
	file, err := open(name)
	if file == nil || err != nil {
		return nil, nil, err
	}
	defer file.Close()
	return readFile(file, f)
}

// badLines is the one-line error naming the lines that are not events (the
// first ten), nil when there are none.
func badLines(bad []string) error {
	if len(bad) == 0 {
		return nil
	}
	named := strings.Join(bad[:min(len(bad), 10)], ", ")
	if len(bad) > 10 {
		named += fmt.Sprintf(" and %d more lines", len(bad)-10)
	}
	return fmt.Errorf("%s: %w", named, ErrBadLines)
}

// rotated names the rotated files of the log in dir, oldest first, in the
// order of the times in their names.
func rotated(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	prefix, ext := strings.TrimSuffix(FileName, filepath.Ext(FileName))+"-", filepath.Ext(FileName)
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		ts, ok := strings.CutPrefix(n, prefix)
		if ts, ok2 := strings.CutSuffix(ts, ext); ok && ok2 {
			if _, err := time.Parse(backupTime, ts); err == nil {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names) // the layout sorts as time does
	return names, nil
}

// maxLine is the longest line readFile reads as an event; an event is
// a few hundred bytes, a few kilobytes at most.
const maxLine = 1 << 20

// readFile reads the events of one file that f chooses, and names each
// line that is not an event ("audit.log line 3"), a line longer than
// maxLine among them.
func readFile(file *os.File, f Filter) (events []Event, bad []string, err error) {
	name := file.Name()
	key := f.keyID()
	r := bufio.NewReaderSize(file, 64<<10)
	var long []byte // a line longer than r's buffer, read so far
	for n := 1; ; {
		part, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long) <= maxLine {
				long = append(long, part...)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("read audit log %s: %w", filepath.Base(name), err)
		}
		line := part
		if long != nil {
			line = append(long, part...)
			long = nil
		}
		if line = bytes.TrimSuffix(line, []byte("\n")); len(line) > 0 {
			var e Event
			if len(line) > maxLine || json.Unmarshal(line, &e) != nil || e.Kind == "" || e.Time.IsZero() {
				bad = append(bad, fmt.Sprintf("%s line %d", filepath.Base(name), n))
			} else if f.chooses(e, key) {
				events = append(events, e)
			}
		}
		if err != nil { // io.EOF
			return events, bad, nil
		}
		n++
	}
}

// chooses reports whether f chooses e; key is f.keyID().
func (f Filter) chooses(e Event, key string) bool {
	if !f.At.IsZero() && (e.Kind != Issued || e.Time.After(f.At) || !e.Expires.After(f.At)) {
		return false
	}
	return !last(e).Before(f.Since) && (f.Profile == "" || e.Profile == f.Profile) && (key == "" || e.KeyID == key)
}

// last is when the last request that e stands for came: Until for a line
// of repeats, else Time.
func last(e Event) time.Time {
	if e.Until.After(e.Time) {
		return e.Until
	}
	return e.Time
}
