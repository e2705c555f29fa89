package credfile

import (
	"bytes"
	"testing"
)

// FuzzRemove checks that Remove takes out one span that starts with the
// section's header and holds no other header, and that Find does not panic
// and finds only keys that are in the file.
func FuzzRemove(f *testing.F) {
	f.Add([]byte("[dev]\naws_access_key_id = A\naws_secret_access_key = B\n"), "dev")
	f.Add([]byte("# c\r\n[a]\r\nk = 1\r\n[dev] ; x\r\nk = 2"), "dev")
	f.Add([]byte("[dev]\n  [dev]\n\t[ dev ]"), "dev")
	f.Add([]byte(""), "default")
	f.Fuzz(func(t *testing.T, text []byte, profile string) {
		if k, err := Find(text, profile); err == nil {
			if !bytes.Contains(text, []byte(k.AccessKeyID)) || !bytes.Contains(text, []byte(k.SecretAccessKey)) {
				t.Errorf("Find(%q, %q) = %q, want keys that are in the file", text, profile, k)
			}
		}
		got, err := Remove(text, profile)
		if err != nil {
			return
		}
		s, err := locate(text, profile)
		if err != nil {
			t.Fatalf("Remove(%q, %q) succeeded but locate = %v", text, profile, err)
		}
		if !bytes.Equal(got, append(bytes.Clone(text[:s.start]), text[s.end:]...)) {
			t.Errorf("Remove(%q, %q) = %q, want it without [%d, %d)", text, profile, got, s.start, s.end)
		}
		for i, l := range splitLines(text[s.start:s.end]) {
			if name, ok := header(l.text); ok != (i == 0) || i == 0 && name != profile {
				t.Errorf("Remove(%q, %q) removed line %q, want the header then lines that are not headers", text, profile, l.text)
			}
		}
		if _, err := locate(got, profile); err == nil {
			t.Errorf("Remove(%q, %q) = %q, still with the section", text, profile, got)
		}
	})
}
