package doctor

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/brokerd/brokerd/profile"
)

// sectionNameProblems lists the [profile NAME], [sso-session NAME] and
// [services NAME] headers of a config file whose NAME botocore reads
// otherwise than the Go SDK and brokerd. botocore splits the header as a
// shell would (build_profile_map: shlex.split, then exactly two words), so
// [profile "a b"] is profile a b to it and "a b", quotes and all, to the
// Go SDK; [profile a b] is no profile to it and profile a b to the Go SDK;
// and [profiles a] is profile a to it (the header only has to start with
// "profile") and no profile to the Go SDK.
func sectionNameProblems(text []byte) []problem {
	var out []problem
	text = bytes.TrimPrefix(text, []byte("\ufeff"))
	for i, raw := range strings.Split(string(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))), "\n") {
		m := header.FindStringSubmatch(strings.TrimSpace(raw))
		if m == nil {
			continue
		}
		for _, typ := range []string{"profile", "sso-session", "services"} {
			boto, botoOK := botocoreSectionName(m[1], typ)
			sdk, sdkOK := goSectionName(raw, typ)
			if botoOK == sdkOK && boto == sdk {
				continue
			}
			var why string
			switch {
			case sdkOK && botoOK:
				why = fmt.Sprintf("the aws CLI and boto3 read the %s name as `%s`, brokerd and the Go SDK as `%s`", typ, boto, sdk)
			case sdkOK:
				why = fmt.Sprintf("the aws CLI and boto3 read no %s from it, brokerd and the Go SDK read %[1]s `%s`", typ, sdk)
			default:
				why = fmt.Sprintf("the aws CLI and boto3 read it as %s `%s`, brokerd and the Go SDK read no %[1]s from it", typ, boto)
			}
			out = append(out, problem{i + 1, fmt.Sprintf("[%s]: %s", m[1], why),
				fmt.Sprintf("rename the section [%s NAME], NAME without spaces, quotes or backslashes, and use NAME where the old name was used", typ)})
		}
	}
	return out
}

// goSectionName is the name of the section of type typ that line opens as
// the Go SDK and brokerd read it, if it opens one.
func goSectionName(line, typ string) (string, bool) {
	f := profile.ParseFile([]byte(line))
	if len(f.Sections) != 1 {
		return "", false
	}
	name, ok := strings.CutPrefix(f.Sections[0].Name, typ+" ")
	if !ok {
		return "", false
	}
	return name, true
}

// botocoreSectionName is the name of the section of type typ that botocore
// reads from header, the text between [ and ]: when header starts with typ,
// the second of exactly two words that shlex.split makes of it; none when
// it makes another number, or fails on an unclosed quote or a trailing
// backslash.
func botocoreSectionName(header, typ string) (string, bool) {
	if !strings.HasPrefix(header, typ) {
		return "", false
	}
	words, ok := shlexSplit(header)
	if !ok || len(words) != 2 {
		return "", false
	}
	return words[1], true
}

// shlexSplit splits s into words as Python's shlex.split does (POSIX mode,
// no comments): at spaces, tabs and newlines outside quotes; '…' keeps
// everything, "…" keeps everything but \" and \\ (read as " and \), and a
// backslash elsewhere keeps the character after it. It fails where
// shlex.split raises ValueError: an unclosed quote, a trailing backslash.
func shlexSplit(s string) ([]string, bool) {
	var (
		words   []string
		word    strings.Builder
		inWord  bool // a word has started, even an empty quoted one
		quote   rune // the open quote, 0 outside quotes
		escaped bool // the last character was a backslash that escapes
	)
	for _, r := range s {
		switch {
		case escaped:
			if quote == '"' && r != '"' && r != '\\' {
				word.WriteRune('\\')
			}
			word.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, false
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, true
}
