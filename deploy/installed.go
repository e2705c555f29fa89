package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"howett.net/plist"

	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// Installed is what the installed service was set up with, as its files
// tell: what `brokerd env` prints while the daemon does not answer.
type Installed struct {
	Present bool // the service's files are there
	// Listen is the endpoint's host:port; empty when not known.
	Listen string
	// DefaultProfile is serve's --default-profile; empty when not known.
	DefaultProfile string
	// Region is the region exported for the default profile's SDKs
	// (Linux only; launchd keeps no file of it); empty when none.
	Region string
	// StateDir is the state directory the service is pinned to
	// (BROKERD_STATE_DIR in its unit or plist); empty when not known.
	StateDir string
	// Binary is the brokerd executable the service runs (ExecStart,
	// ProgramArguments); empty when not known.
	Binary string
}

// ReadInstalled reads the installed service's files for o.GOOS under
// o.Home (Uninstall's fields). Nothing installed is no error.
func ReadInstalled(o Options) (Installed, error) {
	if err := o.checkUninstall(); err != nil {
		return Installed{}, err
	}
	switch o.GOOS {
	case "linux":
		unit, err := os.ReadFile(o.unitPath())
		if errors.Is(err, fs.ErrNotExist) {
			return Installed{}, nil
		}
		in := Installed{Present: true}
		if err != nil {
			return in, fmt.Errorf("read the installed settings: %w", err)
		}
		stateDir, bin := unitStateDir(unit), unitBinary(unit)
		b, err := os.ReadFile(o.envPath())
		if errors.Is(err, fs.ErrNotExist) {
			in.StateDir, in.Binary = stateDir, bin
			return in, nil
		}
		if err != nil {
			return in, fmt.Errorf("read the installed settings: %w", err)
		}
		in = parseEnvironmentFile(b)
		in.StateDir, in.Binary = stateDir, bin
		return in, nil
	case "darwin":
		b, err := os.ReadFile(o.plistPath())
		if errors.Is(err, fs.ErrNotExist) {
			return Installed{}, nil
		}
		if err != nil {
			return Installed{}, fmt.Errorf("read the installed settings: %w", err)
		}
		return parsePlist(b), nil
	}
	return Installed{}, nil
}

// regionLine is the region line EnvironmentFile writes.
var regionLine = regexp.MustCompile(`^\$\{` + wire.VarRegion + `:-\$\{` + wire.VarDefRegion + `:-([a-z0-9-]+)\}\}$`)

// parseEnvironmentFile reads what EnvironmentFile wrote.
func parseEnvironmentFile(b []byte) Installed {
	in := Installed{Present: true}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		switch k {
		case wire.VarURL:
			if u, err := url.Parse(v); err == nil && u.Host != "" {
				in.Listen = u.Host
			}
		case wire.VarProfile:
			in.DefaultProfile = v
		case wire.VarRegion:
			if m := regionLine.FindStringSubmatch(v); m != nil {
				in.Region = m[1]
			}
		}
	}
	return in
}

// unitStateDir is the state directory that the Environment= line of what
// SystemdUnit wrote names (systemdQuote's quoting undone); empty when none.
func unitStateDir(unit []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Environment=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if dir, ok := strings.CutPrefix(strings.ReplaceAll(v, "%%", "%"), state.DirVar+"="); ok && filepath.IsAbs(dir) {
			return dir
		}
	}
	return ""
}

// unitBinary is the executable of the ExecStart= line of what SystemdUnit
// wrote (systemdQuote's quoting undone); empty when none.
func unitBinary(unit []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ExecStart=")
		if !ok {
			continue
		}
		var bin string
		if rest, ok := strings.CutPrefix(v, `"`); ok {
			bin, _, _ = strings.Cut(rest, `"`)
		} else {
			bin, _, _ = strings.Cut(v, " ")
		}
		if bin = strings.ReplaceAll(bin, "%%", "%"); filepath.IsAbs(bin) {
			return bin
		}
		return ""
	}
	return ""
}

// parsePlist reads serve's flags from what LaunchdPlist wrote.
func parsePlist(b []byte) Installed {
	in := Installed{Present: true, DefaultProfile: "default"} // serve's own default
	var p struct {
		ProgramArguments     []string
		EnvironmentVariables map[string]string
	}
	if _, err := plist.Unmarshal(b, &p); err != nil {
		return in
	}
	if dir := p.EnvironmentVariables[state.DirVar]; filepath.IsAbs(dir) {
		in.StateDir = dir
	}
	args := p.ProgramArguments
	if len(args) > 0 && filepath.IsAbs(args[0]) {
		in.Binary = args[0]
	}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--listen":
			in.Listen = args[i+1]
		case "--default-profile":
			in.DefaultProfile = args[i+1]
		}
	}
	if in.Listen != "" {
		if addr, err := wire.CheckListen(in.Listen); err == nil {
			in.Listen = addr
		}
	}
	return in
}
