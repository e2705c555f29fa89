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
// URL, as Python's webbrowser (the aws CLI's) and xdg-open read it: a
// list separated by colons, the first that is installed taken, each a
// command whose %s stands for the URL, else that gets it as its argument;
// else open on macOS, and xdg-open on other systems when a display is
// there. It never fails: a machine without a desktop has no browser, and
// the caller prints what to open instead.
func openBrowser(url string) bool {
	argv := browserCommand(os.Getenv("BROWSER"), url, exec.LookPath)
	if argv == nil {
		return false
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	// In a session of its own, as Python's webbrowser starts it: a
	// browser that the opener starts stays out of this terminal's process
	// group, so that a Ctrl-C of brokerd login, or closing the terminal,
	// does not stop it too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return false
	}
	// The opener returns at once, or stays with the browser; the command
	// ends without waiting for it.
	go cmd.Wait()
	return true
}

// browserCommand is the command that opens url: from browsers ($BROWSER),
// else the desktop's opener; nil when there is none. lookPath finds a
// program.
func browserCommand(browsers, url string, lookPath func(string) (string, error)) []string {
	if strings.TrimSpace(browsers) == "" {
		switch {
		case runtime.GOOS == "darwin":
			browsers = "open"
		case runtime.GOOS == "windows":
			return nil
		case os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "":
			return nil
		default:
			browsers = "xdg-open"
		}
	}
	for _, entry := range strings.Split(browsers, string(os.PathListSeparator)) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		var argv []string
		if strings.Contains(entry, "%s") {
			for _, f := range strings.Fields(entry) {
				argv = append(argv, strings.ReplaceAll(f, "%s", url))
			}
		} else {
			argv = []string{entry, url}
		}
		path, err := lookPath(argv[0])
		if err != nil {
			continue
		}
		argv[0] = path
		return argv
	}
	return nil
}
