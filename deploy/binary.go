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
	return path, checkBinary(path, temps)
}

// checkBinary refuses a binary inside one of tempDirs or in a go-build
// directory.
func checkBinary(path string, tempDirs []string) error {
	temporary := false
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		n, ok := strings.CutPrefix(part, "go-build")
		temporary = temporary || ok && n != "" && strings.Trim(n, "0123456789") == ""
	}
	for _, d := range tempDirs {
		if rel, err := filepath.Rel(d, path); err == nil && filepath.IsLocal(rel) {
			temporary = true
		}
	}
	if temporary {
		return fmt.Errorf("brokerd is running from a temporary directory (%s), as under `go run`: install it first (`go install ./cmd/brokerd` or `go build -o ~/.local/bin/brokerd ./cmd/brokerd`), then run that binary's install", path)
	}
	return nil
}
