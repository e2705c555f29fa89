package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// openBrowser opens url in the browser of this desktop, and reports
// whether it could. $BROWSER, when set, names the program to run with the
// URL as its argument; else open on macOS, and xdg-open on other systems
// when a display is there. It never fails: a machine without a desktop
// has no browser, and the caller prints what to open instead.
func openBrowser(url string) bool {
	name := strings.TrimSpace(os.Getenv("BROWSER"))
	if name == "" {
		switch {
		case runtime.GOOS == "darwin":
			name = "open"
		case runtime.GOOS == "windows":
			return false
		case os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "":
			return false
		default:
			name = "xdg-open"
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return false
	}
	cmd := exec.Command(path, url)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	// In a session of its own, as Python's webbrowser (the aws CLI's)
	// starts it: a browser that the opener starts stays out of this
	// terminal's process group, so that a Ctrl-C of brokerd login, or
	// closing the terminal, does not stop it too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return false
	}
	// The opener returns at once, or stays with the browser; the command
	// ends without waiting for it.
	go cmd.Wait()
	return true
}
