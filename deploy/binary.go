package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Binary returns the absolute path of the running brokerd with symlinks
// resolved, for the service to run. It refuses a binary that `go run` or
// `go test` built in a temporary directory, which would soon be gone.
func Binary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the brokerd binary: %w", err)
	}
	path, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return "", fmt.Errorf("find the brokerd binary: %w", err)
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("find the brokerd binary: %w", err)
	}
	var temps []string
	for _, d := range []string{os.TempDir(), os.Getenv("GOTMPDIR")} {
		if d == "" {
			continue
		}
		temps = append(temps, d)
		if r, err := filepath.EvalSymlinks(d); err == nil {
			temps = append(temps, r) // macOS: /var/folders/… is /private/var/folders/…
		}
	}
	home, _ := os.UserHomeDir()
	return path, checkBinary(path, temps, home)
}

// checkBinary refuses a binary inside one of tempDirs, unless it is in
// home (a home under /tmp holds all the user has), or in a go-build
// directory.
func checkBinary(path string, tempDirs []string, home string) error {
	temporary := false
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		n, ok := strings.CutPrefix(part, "go-build")
		temporary = temporary || ok && n != "" && strings.Trim(n, "0123456789") == ""
	}
	inside := func(dir string) bool {
		rel, err := filepath.Rel(dir, path)
		return dir != "" && err == nil && filepath.IsLocal(rel)
	}
	if filepath.Dir(home) == home {
		home = "" // a home at / holds everything
	}
	for _, d := range tempDirs {
		temporary = temporary || inside(d) && !inside(home)
	}
	if temporary {
		return fmt.Errorf("brokerd is running from a temporary directory (%s), as under `go run`: install it first (`go install ./cmd/brokerd` or `go build -o ~/.local/bin/brokerd ./cmd/brokerd`), then run that binary's install", path)
	}
	return nil
}
