package wire_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/wire"
)

// TestCredentials_JSON checks the names the SDKs read: all four of
// AccessKeyId, SecretAccessKey, Token and Expiration always, AccountId and
// RoleArn only when known.
func TestCredentials_JSON(t *testing.T) {
	tests := []struct {
		name string
		in   wire.Credentials
		want map[string]any
	}{
		{"full", wire.Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", Token: "t", Expiration: "2030-01-02T03:04:05Z", AccountID: "123456789012", RoleArn: "arn:aws:iam::123456789012:role/R"},
			map[string]any{"AccessKeyId": "ASIA", "SecretAccessKey": "s", "Token": "t", "Expiration": "2030-01-02T03:04:05Z", "AccountId": "123456789012", "RoleArn": "arn:aws:iam::123456789012:role/R"}},
		{"no account or role", wire.Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", Token: "t", Expiration: "2030-01-02T03:04:05Z"},
			map[string]any{"AccessKeyId": "ASIA", "SecretAccessKey": "s", "Token": "t", "Expiration": "2030-01-02T03:04:05Z"}},
		{"empty", wire.Credentials{}, map[string]any{"AccessKeyId": "", "SecretAccessKey": "", "Token": "", "Expiration": ""}},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.in)
		if err != nil {
			t.Fatalf("json.Marshal(%s) = %v", tt.name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("json.Marshal(%s credentials) = %s, want %v", tt.name, b, tt.want)
		}
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		// UTC with a Z, no fraction: the one form the JS SDK takes.
		{time.Date(2030, 1, 2, 5, 4, 5, 987654321, time.FixedZone("CEST", 2*3600)), "2030-01-02T03:04:05Z"},
		{time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), "2030-01-02T03:04:05Z"},
		{time.Date(2029, 12, 31, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), "2030-01-01T01:00:00Z"},
	}
	for _, tt := range tests {
		if got := wire.Expiry(tt.in); got != tt.want {
			t.Errorf("Expiry(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodeError(t *testing.T) {
	tests := []struct{ code, message string }{
		{"InvalidToken", "wrong authorization token"},
		{"NotFound", `no such path "/a\"b": </script> & more`},
		{"", ""},
		{"Odd", "bytes \x00 and \xff"},
	}
	for _, tt := range tests {
		b := wire.EncodeError(tt.code, tt.message)
		var got map[string]string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("EncodeError(%q, %q) = %q, want JSON: %v", tt.code, tt.message, b, err)
		}
		// encoding/json writes invalid UTF-8 as U+FFFD.
		if want := strings.ToValidUTF8(tt.message, "\uFFFD"); len(got) != 2 || got["code"] != tt.code || got["message"] != want {
			t.Errorf("EncodeError(%q, %q) = %s, want exactly code and message", tt.code, tt.message, b)
		}
	}
}

func TestShellJoin(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"aws", "s3", "ls"}, "aws s3 ls"},
		{[]string{"brokerd", "exec", "a b", "--", "sh", "-c", "echo $HOME"}, "brokerd exec 'a b' -- sh -c 'echo $HOME'"},
		{[]string{""}, "''"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := wire.ShellJoin(tt.in); got != tt.want {
			t.Errorf("ShellJoin(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMask_Boundary(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "…"},
		{"AKIA1234567", "…"},          // 11: too short to show 8 of
		{"AKIA12345678", "AKIA…5678"}, // 12
		{"ASIAIOSFODNN7EXAMPLE", "ASIA…MPLE"},
	}
	for _, tt := range tests {
		if got := wire.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
