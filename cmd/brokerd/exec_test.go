package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExec_ProfileLeftOut checks that `brokerd exec aws s3 ls`, the
// profile left out, says so: it said there was no profile "aws" and to add
// a [profile aws] section. A name that is no command keeps the daemon's
// answer.
func TestExec_ProfileLeftOut(t *testing.T) {
	w := newShellWorld(t)
	w.serve(t, fakeDaemon{regions: map[string]string{"prod": "eu-west-1"}})
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"exec", "--", "aws", "s3", "ls"}, `"aws" is a command, and no profile brokerd knows: name the profile first, brokerd exec PROFILE -- aws s3 ls; usage: brokerd exec PROFILE`},
		{[]string{"exec", "aws"}, `"aws" is a command, and no profile brokerd knows: name the profile first, brokerd exec PROFILE -- aws; usage:`},
		{[]string{"exec", "nope", "--", "aws"}, "no profile nope"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("brokerd %s = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
