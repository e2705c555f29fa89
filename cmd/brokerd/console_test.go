package main

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

// TestConsole_NoBrowserRefusedFirst checks that `brokerd console` where no
// browser can be opened says so before asking the daemon: it had the
// daemon make a sign-in URL (a federation call, and a secret) that nothing
// then opened.
func TestConsole_NoBrowserRefusedFirst(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("macOS always has open; Windows none")
	}
	t.Setenv("BROWSER", "")
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("BROKERD_STATE_DIR", t.TempDir()) // no daemon there
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"console", "prod"}, strings.NewReader(""), &stdout, &stderr)
	want := "no browser to open here (no desktop session, or set BROWSER): run brokerd console with --print and open the URL it prints within 15 minutes"
	if err == nil || err.Error() != want {
		t.Errorf("brokerd console prod with no browser and no daemon = %v, want %q", err, want)
	}
}

// TestConsole_DurationRefusedBeforeBrowser checks that a --duration no
// profile takes is refused as such, before the want of a browser.
func TestConsole_DurationRefusedBeforeBrowser(t *testing.T) {
	t.Setenv("BROWSER", "")
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("BROKERD_STATE_DIR", t.TempDir())
	for _, d := range []string{"1m", "40h"} {
		err := run(context.Background(), []string{"console", "prod", "--duration", d}, strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), "a console session lasts from 15m to 12h") {
			t.Errorf("brokerd console prod --duration %s = %v, want the range", d, err)
		}
	}
}
