package motoserver

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestEnviron(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1")
	t.Setenv("BROKERD_STATE_DIR", "/nonexistent")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:2")
	t.Setenv("no_proxy", "*")
	t.Setenv("MOTOSERVER_TEST_KEEP", "1")
	env := environ()
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BROKERD_") || strings.EqualFold(k, "https_proxy") || strings.EqualFold(k, "no_proxy") {
			t.Errorf("environ() has %s", k)
		}
	}
	if !slices.Contains(env, "MOTOSERVER_TEST_KEEP=1") {
		t.Errorf("environ() = %q, want MOTOSERVER_TEST_KEEP=1 kept", env)
	}
}

func TestStart_notInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, err := Start(t.TempDir())
	if err == nil {
		s.Stop()
		t.Fatal("Start() with no moto_server on PATH = nil error")
	}
	if want := "pip install 'moto[server]'"; !strings.Contains(err.Error(), want) {
		t.Errorf("Start() = %v, want an error saying %s", err, want)
	}
}

// TestStart_exits checks that a moto_server exiting at start is tried
// again, and that the error shows what it printed.
func TestStart_exits(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake moto_server is a shell script")
	}
	bin := t.TempDir()
	script := "#!/bin/sh\necho started >>\"$0.count\"\necho 'Address already in use' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, binary), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	_, err := Start(t.TempDir())
	if !errors.Is(err, errExited) || !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("Start() = %v, want an error with moto_server's output", err)
	}
	b, _ := os.ReadFile(filepath.Join(bin, binary+".count"))
	if n := strings.Count(string(b), "started"); n != attempts {
		t.Errorf("moto_server started %d times, want %d", n, attempts)
	}
}
