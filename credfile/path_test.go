package credfile_test

import (
	"path/filepath"
	"testing"

	"github.com/brokerd/brokerd/credfile"
)

func TestPath(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	tests := []struct{ env, want string }{
		{"", filepath.Join("/home/u", ".aws", "credentials")},
		{"/etc/aws/creds", "/etc/aws/creds"},
		{"~/creds", filepath.Join("/home/u", "creds")},
		{"rel/creds", "rel/creds"},
	}
	for _, tt := range tests {
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", tt.env)
		if got, err := credfile.Path(); err != nil || got != tt.want {
			t.Errorf("Path() with AWS_SHARED_CREDENTIALS_FILE=%q = %q, %v, want %q", tt.env, got, err, tt.want)
		}
	}
}
