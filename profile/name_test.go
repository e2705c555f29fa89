package profile_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/brokerd/brokerd/profile"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name   string
		wantOK bool
	}{
		{"dev", true},
		{"a,b", true},
		{"my-profile_1.2@corp+x=y", true},
		{"...", true},
		{".a", true},
		{".", false}, // URL parsers resolve these away
		{"..", false},
		{"prod:eu", true},
		{"ü", true},
		{"日本", true},
		{strings.Repeat("x", profile.MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", profile.MaxNameLen+1), false},
		{strings.Repeat("x", 5000), false},
		{"\xff", false},
		{"a\xc3", false},
		{"\x00", false},
		{"a\x7f", false},
		{"a\u0085b", false}, // NEL, a C1 control
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\u00a0b", false}, // no-break space
		{"a\u2028b", false}, // line separator
		{"a/b", false},
		{`a\b`, false},
		{"[dev]", false},
		{"dev]", false},
		{"a\u200bb", false}, // zero-width space, not printable
		{"a\ufeffb", false}, // BOM
	}
	for _, tt := range tests {
		err := profile.CheckName(tt.name)
		if (err == nil) != tt.wantOK {
			t.Errorf("CheckName(%q) = %v, want ok %v", tt.name, err, tt.wantOK)
		}
		if err != nil && err.Error() == "" {
			t.Errorf("CheckName(%q) = an empty error, want one that says why", tt.name)
		}
	}
}

// FuzzCheckName checks that CheckName never panics, that every name it
// accepts is one a URL path segment and a config section header hold
// plainly, and that it says why it refuses one.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"dev", "a,b", "", "a b", "a/b", `a\b`, "[x]", "\x00", "\xff", "ü", "a\u00a0b", "a\u200bb",
		strings.Repeat("x", profile.MaxNameLen), strings.Repeat("ü", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := profile.CheckName(name)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("CheckName(%q) = an empty error, want one that says why", name)
			}
			return
		}
		switch {
		case name == "":
			t.Fatalf("CheckName(%q) = nil, want an error for the empty name", name)
		case !utf8.ValidString(name):
			t.Fatalf("CheckName(%q) = nil, want an error for invalid UTF-8", name)
		case len(name) > 128:
			t.Fatalf("CheckName(%q) = nil, want an error for %d bytes", name, len(name))
		case strings.ContainsAny(name, `/\[]`):
			t.Fatalf("CheckName(%q) = nil, want an error for / \\ [ ]", name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.IsSpace(r) || !unicode.IsPrint(r) {
				t.Fatalf("CheckName(%q) = nil, but it holds %q", name, r)
			}
		}
	})
}
