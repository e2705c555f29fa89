package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Filter chooses events; a zero field chooses all.
type Filter struct {
	Since   time.Time // events at or after
	Profile string    // events of this profile
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
	names, err := files(dir)
	if err != nil {
		return nil, err
	}
	var events []Event
	var bad []string
	for _, name := range names {
		evs, lines, err := readFile(filepath.Join(dir, name), f)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
		bad = append(bad, lines...)
	}
	slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return events, badLines(bad)
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

// files names the audit log's files in dir, oldest first: rotated files
// in the order of the times in their names, then the current one.
func files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	prefix, ext := strings.TrimSuffix(FileName, filepath.Ext(FileName))+"-", filepath.Ext(FileName)
	var names []string
	current := false
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if n == FileName {
			current = true
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
	if current {
		names = append(names, FileName)
	}
	return names, nil
}

// readFile reads the events of one file that f chooses, and names each
// line that is not an event ("audit.log line 3").
func readFile(name string, f Filter) (events []Event, bad []string, err error) {
	file, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil // rotated away meanwhile
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read audit log: %w", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil || e.Kind == "" || e.Time.IsZero() {
			bad = append(bad, fmt.Sprintf("%s line %d", filepath.Base(name), n))
			continue
		}
		if e.Time.Before(f.Since) || (f.Profile != "" && e.Profile != f.Profile) {
			continue
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read audit log %s: %w", filepath.Base(name), err)
	}
	return events, bad, nil
}
