package credfile_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/credfile"
)

func TestRemove(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"middle",
			"[default]\naws_access_key_id = A\n\n[dev]\naws_access_key_id = B\naws_secret_access_key = C\n\n[prod]\naws_access_key_id = D\n",
			"[default]\naws_access_key_id = A\n\n[prod]\naws_access_key_id = D\n"},
		{"first",
			"[dev]\naws_access_key_id = B\n[prod]\naws_access_key_id = D\n",
			"[prod]\naws_access_key_id = D\n"},
		{"last",
			"[prod]\naws_access_key_id = D\n\n[dev]\naws_access_key_id = B\n",
			"[prod]\naws_access_key_id = D\n\n"},
		{"only",
			"[dev]\naws_access_key_id = B\n",
			""},
		{"comments before the header stay, those inside go",
			"[prod]\nx = 1\n# dev keys, rotated in May\n[dev] # work\n; old: AKIA…\naws_access_key_id = B\n# prod again\n[prod2]\n",
			"[prod]\nx = 1\n# dev keys, rotated in May\n[prod2]\n"},
		{"lines before the first header stay",
			"# managed by hand\nregion = x\n\n[dev]\naws_access_key_id = B\n",
			"# managed by hand\nregion = x\n\n"},
		{"CRLF",
			"[a]\r\nk = 1\r\n\r\n[dev]\r\nk = 2\r\n\r\n[b]\r\nk = 3\r\n",
			"[a]\r\nk = 1\r\n\r\n[b]\r\nk = 3\r\n"},
		{"mixed line endings",
			"[a]\nk = 1\r\n[dev]\r\nk = 2\n[b]\r\nk = 3",
			"[a]\nk = 1\r\n[b]\r\nk = 3"},
		{"no newline at the end, section last",
			"[a]\nk = 1\n[dev]\nk = 2",
			"[a]\nk = 1\n"},
		{"no newline at the end, section first",
			"[dev]\nk = 2\n[a]\nk = 1",
			"[a]\nk = 1"},
		{"header alone at the end",
			"[a]\nk = 1\n[dev]",
			"[a]\nk = 1\n"},
		{"similar names stay",
			"[dev2]\nk = 1\n[profile dev]\nk = 2\n[dev]\nk = 3\n[de]\nk = 4\n",
			"[dev2]\nk = 1\n[profile dev]\nk = 2\n[de]\nk = 4\n"},
		{"lines that are not headers stay inside",
			"[dev]\nk = [x]\n#[b]\n;[c]\n[a;b]\n[a]\n",
			"[a]\n"},
		{"header with spaces and a comment",
			"[a]\n  [ dev ]  ; x\r\nk = 2\n[b]\n",
			"[a]\n[b]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := credfile.Remove([]byte(tt.text), "dev")
			if err != nil || string(got) != tt.want {
				t.Errorf("Remove(%q) = %q, %v, want %q", tt.text, got, err, tt.want)
			}
		})
	}
}

func TestRemove_refuses(t *testing.T) {
	tests := []struct{ text, want string }{
		{"[a]\nk = 1\n", "no section [dev], only [a]"},
		{"[dev]\nk = 1\n[dev]\nk = 2\n", "appears 2 times"},
		{"", "has no sections"},
	}
	for _, tt := range tests {
		got, err := credfile.Remove([]byte(tt.text), "dev")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Remove(%q) = %q, %v, want an error with %q", tt.text, got, err, tt.want)
		}
	}
}

// TestRemove_random checks, on files made of random parts, that Remove
// takes out exactly the part that is the section and keeps every other
// byte: the result with the removed span put back is the file.
func TestRemove_random(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		parts, target := randomFile(r)
		text := strings.Join(parts, "")
		start := len(strings.Join(parts[:target], ""))
		span := parts[target]
		got, err := credfile.Remove([]byte(text), "dev")
		if err != nil {
			t.Fatalf("file %d: Remove(%q) = %v, want no error", i, text, err)
		}
		if back := string(got[:start]) + span + string(got[start:]); back != text {
			t.Fatalf("file %d: Remove(%q) = %q, want it without %q at %d", i, text, got, span, start)
		}
		if _, err := credfile.Remove(got, "dev"); err == nil {
			t.Fatalf("file %d: Remove(%q) left a section [dev]: %q", i, text, got)
		}
	}
}

// randomFile returns the parts of a credentials file: lines before any
// section, then sections with their lines, one of them [dev] at
// parts[target]. Only the last line may lack a line ending.
func randomFile(r *rand.Rand) (parts []string, target int) {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	eol := func() string { return pick("\n", "\n", "\r\n") }
	body := func() string {
		var b strings.Builder
		for range r.IntN(5) {
			b.WriteString(pick(
				"aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AWS_Secret_Access_Key=abc/def+ghi",
				"# comment", "; comment [x]", "", "   ", "\t# indented comment",
				"region: eu-west-1", "  nested = 1", "s3 =", "not a setting", "k = [v]", "x = 1 # c",
			) + eol())
		}
		return b.String()
	}
	names := []string{"default", "prod", "dev2", "profile dev", "Dev", "x y"}
	parts = append(parts, body())
	n := 1 + r.IntN(5)
	target = 1 + r.IntN(n)
	for i := 1; i <= n; i++ {
		name := pick(names...)
		if i == target {
			name = "dev"
		}
		h := pick("[%s]", "[%s] # c", "[ %s ]", "  [%s];c", "[%s]\t")
		parts = append(parts, fmt.Sprintf(h, name)+eol()+body())
	}
	if last := parts[len(parts)-1]; r.IntN(3) == 0 && strings.HasSuffix(last, "\n") {
		last = strings.TrimSuffix(strings.TrimSuffix(last, "\n"), "\r")
		parts[len(parts)-1] = last
	}
	return parts, target
}
