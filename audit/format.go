package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// Format writes events to w as a table for people, times in local time,
// or, with jsonOut, as JSON lines like the log's own, key ids masked and
// characters a terminal acts on escaped. The
// table's KEY is the access key id served, masked as CloudTrail's
// accessKeyId can be matched with: ASIA…WXYZ.
func Format(w io.Writer, events []Event, jsonOut bool) error {
	if jsonOut {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for _, e := range events {
			e.KeyID = MaskKey(e.KeyID)
			buf.Reset()
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("write audit events: %w", err)
			}
			if _, err := w.Write(escapeJSON(buf.Bytes())); err != nil {
				return fmt.Errorf("write audit events: %w", err)
			}
		}
		return nil
	}
	self := euid()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tPROFILE\tKEY\tCLIENT\tCODE")
	for _, e := range events {
		kind := dash(string(e.Kind))
		if e.Count > 1 {
			kind += fmt.Sprintf(" x%d", e.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.In(zone).Format(time.DateTime),
			kind, dash(shown(e.Profile)), dash(shown(MaskKey(e.KeyID))), who(e, self), dash(shown(e.Code)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write audit events: %w", err)
	}
	return nil
}

// zone is where the table shows times: the machine's; tests set another
// rather than time.Local, which the log writer's goroutines read.
var zone = time.Local

// euid is the user who reads the log, as a rule the one whose daemon
// wrote it; tests replace it.
var euid = os.Geteuid

// who names the client of e: "pid 1234 /usr/bin/aws", with "(uid 0)" when
// the process was not self's (root's, another user's: someone else got
// the credentials) and "(in mnt:[4026532512])" when it ran in another
// mount namespace (a container with the host's network), "uid 1001
// (note)" when only that is known, with the note that says why,
// "container abc123 (label)", or "-".
func who(e Event, self int) string {
	var parts []string
	if c := e.Container; c != nil {
		s := "container " + shown(short(c.ID))
		if c.ID == "" && c.IP != "" {
			s = "container at " + c.IP
		}
		if c.Label != "" {
			s += " (" + shown(c.Label) + ")"
		}
		parts = append(parts, s)
	}
	if c := e.Client; c != nil {
		if c.PID > 0 {
			p := strings.TrimSpace(fmt.Sprintf("pid %d %s", c.PID, shown(c.Exe)))
			if c.UID != self {
				p += fmt.Sprintf(" (uid %d)", c.UID)
			}
			if c.MountNS != "" {
				p += " (in " + shown(c.MountNS) + ")"
			}
			parts = append(parts, p)
		} else {
			s := fmt.Sprintf("uid %d", c.UID)
			if e.Note != "" { // why no process: not found, or not looked up
				s += " (" + shown(e.Note) + ")"
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		if e.Note != "" {
			return "? (" + shown(e.Note) + ")"
		}
		return "-"
	}
	return strings.Join(parts, " via ")
}

// short cuts a container id to the 12 characters docker shows.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shown is s as a terminal can show it: quoted, with escapes, when it holds
// a character that is not printable (a newline, a tab, an escape sequence),
// which could forge a line or a column. Names reach the log from clients:
// an executable's path, say.
func shown(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}
