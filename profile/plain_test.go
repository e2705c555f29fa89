package profile

import (
	"strings"
	"testing"
)

// TestPlainName checks the fast path against the full rule on every ASCII
// byte, alone and inside a name.
func TestPlainName(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		for _, name := range []string{string(rune(c)), "a" + string(rune(c)) + "b"} {
			if plainName(name) && CheckName(name) != nil {
				t.Errorf("plainName(%q) = true but CheckName refuses it", name)
			}
			if !plainName(name) && CheckName(name) == nil && c < 0x80 && c > ' ' && c != 0x7f && !strings.ContainsRune(`/\[]`, rune(c)) {
				t.Errorf("plainName(%q) = false for a plain name", name)
			}
		}
	}
}

func BenchmarkCheckName(b *testing.B) {
	for b.Loop() {
		CheckName("UpdateApp-prod")
	}
}
