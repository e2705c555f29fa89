package keyid_test

import (
	"strings"
	"testing"

	"github.com/brokerd/brokerd/keyid"
)

func TestCheck(t *testing.T) {
	secret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		id   string
		want string // a part of the error; empty means no error
	}{
		{"AKIAIOSFODNN7EXAMPLE", ""},
		{"AKIA234567ABCDEFGHIJ", ""},
		{"", "is empty"},
		{" AKIAIOSFODNN7EXAMPLE", "before or after"},
		{"AKIAIOSFODNN7EXAMPLE\n", "before or after"},
		{"AKIAIOSFOD NN7EXAMPL", "space at character 11"},
		{"ASIAIOSFODNN7EXAMPLE", "temporary access key from STS"},
		{"AIDAIOSFODNN7EXAMPLE", "unique id of an IAM user"},
		{"AROAIOSFODNN7EXAMPLE1", "unique id of an IAM role"},
		{"AKIAIOSFODNN7EXAMPL", "has 19 characters, want 20"},
		{"AKIAIOSFODNN7EXAMPLEX", "has 21 characters, want 20"},
		{"AKIA", "has 4 characters, want 20"},
		{secret, "like a secret access key"},
		{"akiaiosfodnn7example", "lower-case"},
		{"AKIAiosfodnn7EXAMPLE", "lower-case"},
		{"BKIAIOSFODNN7EXAMPLE", `starts with "BKIA", want AKIA`},
		{"AKIAIOSFODNN1EXAMPLE", `'1' at character 13`},
		{"AKIAIOSF0DNN7EXAMPLE", `'0' at character 9`},
		{"AKIAIOSFODNN7EXAMPL8", `'8' at character 20`},
		{"AKIAIOSFODNN7EXAMP-E", `'-' at character 19`},
		{"AKIAIOSFODNN7EXAMP/E", `'/' at character 19`},
	}
	for _, tt := range tests {
		err := keyid.Check(tt.id)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", tt.id, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%q) = %v, want an error with %q", tt.id, err, tt.want)
		case err != nil && len(tt.id) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.id)):
			t.Errorf("Check(%q) = %v, want an error that does not quote the id", tt.id, err)
		case err != nil && strings.ContainsAny(err.Error(), "\n"):
			t.Errorf("Check(%q) = %q, want one line", tt.id, err)
		}
	}
}
