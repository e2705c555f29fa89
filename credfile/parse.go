package credfile

import (
	"bytes"
	"strings"
)

// line is one line of the file.
type line struct {
	start, end int    // byte span, end past the "\n" if there is one
	text       string // without the "\n" or "\r\n"
	num        int    // from 1
}

// section is a section of the file as the Go SDK reads it: its header line
// and the lines after it, up to the next header line or the end of the file.
type section struct {
	name       string
	header     line
	lines      []line
	next       line // the next header line; zero at the end of the file
	start, end int  // byte span
}

// splitLines splits text at each "\n", as the Go SDK does.
func splitLines(text []byte) []line {
	var lines []line
	for start := 0; start < len(text); {
		end := len(text)
		if i := bytes.IndexByte(text[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(text[start:end]), "\n"), "\r")
		lines = append(lines, line{start: start, end: end, text: s, num: len(lines) + 1})
		start = end
	}
	return lines
}

// parse returns the sections of text in order; lines before the first
// header belong to none.
func parse(text []byte) []section {
	var secs []section
	for _, l := range splitLines(text) {
		if name, ok := header(l.text); ok {
			if n := len(secs); n > 0 {
				secs[n-1].end, secs[n-1].next = l.start, l
			}
			secs = append(secs, section{name: name, header: l, start: l.start, end: len(text)})
			continue
		}
		if n := len(secs); n > 0 {
			secs[n-1].lines = append(secs[n-1].lines, l)
		}
	}
	return secs
}

// blank reports whether s is empty or a comment; the SDKs skip both.
func blank(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return strings.TrimSpace(t) == "" || t[0] == '#' || t[0] == ';'
}

// indented reports whether s starts with a space or a tab, which makes it a
// sub-property or a continuation for the Go SDK.
func indented(s string) bool {
	return s != "" && (s[0] == ' ' || s[0] == '\t')
}

// header returns the section name that s declares, read as the Go SDK
// reads it: "[ type  name ] ; comment" names "type name".
func header(s string) (string, bool) {
	if blank(s) {
		return "", false
	}
	inner, ok := brackets(s)
	if !ok {
		return "", false
	}
	inner = strings.TrimSpace(inner)
	if i := strings.IndexAny(inner, " \t"); i >= 0 {
		inner = inner[:i] + " " + strings.TrimLeft(inner[i:], " \t")
	}
	return inner, true
}

// brackets returns what is between the brackets of a header line.
func brackets(s string) (string, bool) {
	if i := strings.IndexAny(s, "#;"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return "", false
	}
	return s[1 : len(s)-1], true
}

// setting is a "key = value" line.
type setting struct {
	key  string // lower-case, as both SDKs fold it
	sdk  string // the value as the Go SDK reads it
	boto string // the value as botocore reads it
	line int
}

// parseSetting reads a line that is not blank, not indented and not a
// header as both SDKs do; ok is false when neither reads a setting in it.
func parseSetting(l line) (setting, bool) {
	s := l.text
	for _, c := range []string{" #", " ;", "\t#", "\t;"} { // the Go SDK's comments
		s, _, _ = strings.Cut(s, c)
	}
	k, v, ok := splitSetting(s)
	if !ok {
		return setting{}, false
	}
	_, boto, _ := splitSetting(l.text) // botocore has no comments after a value
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1] // the Go SDK drops quotes, botocore keeps them
	}
	return setting{key: strings.ToLower(k), sdk: v, boto: boto, line: l.num}, true
}

// splitSetting splits s at the first "=" or ":"; a key is required.
func splitSetting(s string) (key, value string, ok bool) {
	i := strings.IndexAny(s, "=:")
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimSpace(s[:i])
	return key, strings.TrimSpace(s[i+1:]), key != ""
}
