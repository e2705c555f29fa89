package audit

import (
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// escapeJSON rewrites the characters of the JSON in b that a terminal
// acts on or that reorder what it shows, and that encoding/json writes as
// they are, as \u escapes, which decode to the same string: DEL, the C1
// controls (U+009B is CSI, as ESC [ is), bidirectional overrides and other
// characters that are not printable. A name from a client (an
// executable's path) then cannot colour the terminal or forge a line of
// `brokerd audit --json`, or of the log shown with cat. The JSON stays
// valid: such characters appear in its strings only. It returns b when
// there is none, without copying.
func escapeJSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf && b[i] != 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1: // encoding/json writes none
			out = append(out, `\ufffd`...)
		case r == 0x7f || (r >= utf8.RuneSelf && !unicode.IsPrint(r)):
			if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
