package server

import (
	"net/url"
	"strings"
	"testing"
)

func TestCredentialsPath(t *testing.T) {
	tests := []struct {
		target   string
		wantName string
		wantOK   bool
	}{
		{"/v1/credentials", "", true},
		{"/v1/credentials/dev", "dev", true},
		{"/v1/credentials/a%2Cb", "a,b", true},
		{"/v1/credentials/50%25", "50%", true},
		{"/v1/credentials/a%2Fb", "a/b", true}, // CheckName refuses it later
		{"/v1/credentials/%FF", "\xff", true},
		{"/v1/credentials/", "", false},
		{"/v1/credentials/a/b", "", false},
		{"/v1/credentials/dev/", "", false},
		{"/v1/credentialsX", "", false},
		{"/v2/credentials/dev", "", false},
		{"/healthz", "", false},
	}
	for _, tt := range tests {
		u, err := url.ParseRequestURI(tt.target)
		if err != nil {
			t.Fatalf("url.ParseRequestURI(%q) = %v", tt.target, err)
		}
		name, ok := credentialsPath(u)
		if name != tt.wantName || ok != tt.wantOK {
			t.Errorf("credentialsPath(%q) = %q, %v, want %q, %v", tt.target, name, ok, tt.wantName, tt.wantOK)
		}
	}
}

// FuzzCredentialsPath checks that a profile name escaped as `brokerd env`
// escapes it (url.PathEscape) comes back from the path whole, and that a
// name read from any path reads the same once escaped again.
func FuzzCredentialsPath(f *testing.F) {
	for _, s := range []string{"dev", "a,b", "50%", "a/b", "a b", "\xff", "\x00", "..", "%2F", "ü", strings.Repeat("x", 200),
		"/v1/credentials/a%2Cb", "/v1/credentials/%2e%2e", "/v1/credentials//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s != "" {
			target := "/v1/credentials/" + url.PathEscape(s)
			u, err := url.ParseRequestURI(target)
			if err != nil {
				t.Fatalf("url.ParseRequestURI(%q) = %v, want the path brokerd env writes to parse", target, err)
			}
			if name, ok := credentialsPath(u); !ok || name != s {
				t.Fatalf("credentialsPath(%q) = %q, %v, want %q, true", target, name, ok, s)
			}
			if name, ok := unescape(url.PathEscape(s)); !ok || name != s {
				t.Fatalf("unescape(%q) = %q, %v, want %q, true", url.PathEscape(s), name, ok, s)
			}
		}

		u, err := url.ParseRequestURI(s)
		if err != nil {
			return
		}
		name, ok := credentialsPath(u)
		if !ok {
			return
		}
		if name == "" {
			if p := u.EscapedPath(); p != "/v1/credentials" {
				t.Fatalf("credentialsPath(%q) = the default profile for path %q", s, p)
			}
			return
		}
		again, err := url.ParseRequestURI("/v1/credentials/" + url.PathEscape(name))
		if err != nil {
			t.Fatalf("url.ParseRequestURI of %q escaped = %v", name, err)
		}
		if n, ok := credentialsPath(again); !ok || n != name {
			t.Fatalf("credentialsPath(%q) = %q, but %q escaped reads %q, %v", s, name, name, n, ok)
		}
	})
}
