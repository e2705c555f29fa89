package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"

	"howett.net/plist"

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
}

// ReadInstalled reads the installed service's files for o.GOOS under
// o.Home (Uninstall's fields). Nothing installed is no error.
func ReadInstalled(o Options) (Installed, error) {
	if err := o.checkUninstall(); err != nil {
		return Installed{}, err
	}
	switch o.GOOS {
	case "linux":
		if _, err := os.Stat(o.unitPath()); errors.Is(err, fs.ErrNotExist) {
			return Installed{}, nil
		}
		in := Installed{Present: true}
		b, err := os.ReadFile(o.envPath())
		if errors.Is(err, fs.ErrNotExist) {
			return in, nil
		}
		if err != nil {
			return in, fmt.Errorf("read the installed settings: %w", err)
		}
		return parseEnvironmentFile(b), nil
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

// parsePlist reads serve's flags from what LaunchdPlist wrote.
func parsePlist(b []byte) Installed {
	in := Installed{Present: true, DefaultProfile: "default"} // serve's own default
	var p struct {
		ProgramArguments []string
	}
	if _, err := plist.Unmarshal(b, &p); err != nil {
		return in
	}
	args := p.ProgramArguments
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
