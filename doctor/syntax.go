package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/brokerd/brokerd/profile"
)

// checkSyntax reads the config and credentials files as botocore does
// (Python's configparser): a line it cannot read makes the aws CLI and
// boto3 refuse the whole file ("Unable to parse config file"), where
// brokerd and the Go SDK skip the line.
func checkSyntax(env Env) []Check {
	var out []Check
	for i, file := range []string{env.ConfigFile, env.CredentialsFile} {
		text, err := profile.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a missing file is an empty one
		}
		if err != nil {
			out = append(out, unreadable(file, i == 0, err))
			continue
		}
		for _, p := range botocoreProblems(text) {
			out = append(out, Check{"syntax", Fail,
				fmt.Sprintf("%s line %d: %s, so the aws CLI and boto3 refuse the whole file (\"Unable to parse config file\") while brokerd and the Go SDK skip the line", file, p.line, p.why),
				fmt.Sprintf("%s on line %d of %s", p.fix, p.line, file)})
		}
		if i == 0 {
			for _, p := range sectionNameProblems(text) {
				out = append(out, Check{"syntax", Warn, fmt.Sprintf("%s line %d: %s", file, p.line, p.why),
					fmt.Sprintf("on line %d of %s, %s", p.line, file, p.fix)})
			}
		}
		for _, p := range valueProblems(text) {
			out = append(out, Check{"syntax", Warn, fmt.Sprintf("%s line %d: %s", file, p.line, p.why),
				fmt.Sprintf("%s on line %d of %s", p.fix, p.line, file)})
		}
	}
	return out
}

// unreadable reports a shared file that exists but cannot be read (a
// directory, or a file of root's after sudo aws configure): the SDKs read
// no profile from it, and brokerd cannot load the config file.
func unreadable(file string, config bool, err error) Check {
	name, level, variable, what := "credentials file", Warn, "AWS_SHARED_CREDENTIALS_FILE", "SDKs read no profile from it"
	if config {
		name, level, variable, what = "config file", Fail, "AWS_CONFIG_FILE", "brokerd cannot load its profiles, and SDKs read none from it"
	}
	fix := fmt.Sprintf("make %s a file you can read: sudo chown \"$(id -un)\" %[1]s && chmod 600 %[1]s", file)
	if fi, serr := os.Stat(file); serr == nil && fi.IsDir() {
		fix = fmt.Sprintf("%s is a directory: move it away and put the file there, or point %s at the file", file, variable)
	} else if serr == nil && !fi.Mode().IsRegular() {
		fix = fmt.Sprintf("write the settings to a regular file and point %s at it: brokerd reads the file again at each change", variable)
	}
	return Check{name, level, fmt.Sprintf("cannot read %s (%v), so %s", file, errors.Unwrap(err), what), fix}
}

// problem is a line of an ini file that botocore does not read.
type problem struct {
	line     int
	why, fix string
}

// header is configparser's SECTCRE: a line that starts with [ and has a ]
// further on; what follows the last ] is ignored.
var header = regexp.MustCompile(`^\[(.+)\]`)

// botocoreProblems lists the lines of text that Python's RawConfigParser
// (strict, as botocore makes it) refuses.
func botocoreProblems(text []byte) []problem {
	var out []problem
	if rest, ok := bytes.CutPrefix(text, []byte("\ufeff")); ok {
		// Python reads the file as UTF-8, not UTF-8-sig: the mark is a
		// character before the first [, and the Go SDK keeps it too.
		out = append(out, problem{1, "the file starts with an invisible byte order mark (BOM, as some Windows editors write UTF-8) before its first line",
			"save the file as UTF-8 without a BOM (editors call the other \"UTF-8 with BOM\"), that is, delete the 3 bytes EF BB BF"})
		text = rest
	}
	sections := map[string]int{}
	var current string
	var options map[string]int
	optionIndent := -1 // the indentation of the last option: deeper lines continue it
	for i, raw := range strings.Split(string(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))), "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case optionIndent >= 0 && indent > optionIndent:
			continue // a continuation line, as in nested s3 settings
		}
		if m := header.FindStringSubmatch(line); m != nil {
			current = m[1]
			if first, ok := sections[current]; ok {
				out = append(out, problem{n, fmt.Sprintf("the section [%s] appears a second time (first on line %d)", current, first), "merge the two sections into the first and delete this header"})
			} else {
				sections[current] = n
			}
			options, optionIndent = map[string]int{}, -1
			continue
		}
		if strings.HasPrefix(line, "[") {
			// Not quoted: it may be a secret pasted after a [.
			out = append(out, problem{n, "the line starts a section header with [ but has no closing ]", "add the ]"})
			optionIndent = -1
			continue
		}
		if current == "" {
			out = append(out, problem{n, "a setting comes before any [section] header", "move it into a section, or delete it"})
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if colon, _, cok := strings.Cut(line, ":"); cok && (!ok || len(colon) < len(name)) {
			name, ok = colon, true
		}
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case !ok:
			// The line is not quoted, here or below: it may be a secret
			// key or token pasted on a line of its own.
			out = append(out, problem{n, "the line is neither a setting (name = value) nor a [section] header nor a comment", "make it name = value, a # comment, or delete it"})
			optionIndent = -1
			continue
		case name == "":
			out = append(out, problem{n, "the line has no setting name before the =", "put the setting's name before the ="})
			continue
		}
		if first, ok := options[name]; ok {
			what := name
			if !settingName.MatchString(name) {
				// A token pasted twice, its = taken for a setting's.
				what = "a name that is no setting's (not shown: it may be a pasted key or token)"
			}
			out = append(out, problem{n, fmt.Sprintf("%s is set a second time in [%s] (first on line %d)", what, current, first), "keep one of the two lines"})
		} else {
			options[name] = n
		}
		optionIndent = indent
	}
	return out
}

// valueProblems lists the settings of text whose value botocore reads
// otherwise than the Go SDK and brokerd: after a comment that follows the
// value (" # …"), which the Go SDK drops and botocore keeps, or in quotes,
// which the Go SDK drops and botocore keeps. No value is quoted.
func valueProblems(text []byte) []problem {
	var out []problem
	text = bytes.TrimPrefix(text, []byte("\ufeff"))
	inSection := false
	for i, raw := range strings.Split(string(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case header.MatchString(line):
			inSection = true
			continue
		case !inSection || raw[0] == ' ' || raw[0] == '\t':
			continue // botocoreProblems' or nested values, which both SDKs keep whole
		}
		name, value, ok := strings.Cut(line, "=")
		if colon, v, cok := strings.Cut(line, ":"); cok && (!ok || len(colon) < len(name)) {
			name, value, ok = colon, v, true
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			continue
		}
		what := "the value of " + name
		if !settingName.MatchString(name) {
			what = "the value of a setting"
		}
		switch n, v := i+1, strings.TrimSpace(value); {
		case hasComment(value):
			out = append(out, problem{n, what + " is followed by a comment, which brokerd and the Go SDK drop and the aws CLI and boto3 read as part of the value",
				"move the comment to a line of its own"})
		case len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]:
			out = append(out, problem{n, what + " is in quotes, which brokerd and the Go SDK drop and the aws CLI and boto3 keep as part of the value",
				"remove the quotes"})
		}
	}
	return out
}

// hasComment reports whether the Go SDK reads a comment in value, the
// text after the = of a setting: a # or ; after a space or tab.
func hasComment(value string) bool {
	for _, c := range []string{" #", " ;", "\t#", "\t;"} {
		if strings.Contains(value, c) {
			return true
		}
	}
	return false
}
