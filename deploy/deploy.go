// Package deploy provides brokerd's user-service files and the steps that install them.
//
// On Linux brokerd runs as a systemd user service and an environment.d file
// exports its endpoint; on macOS it runs as a LaunchAgent, which exports the
// endpoint itself with `launchctl setenv`. Everything is rendered from
// Options by pure functions, for either system whatever this one is, so
// that tests cover both.
package deploy

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/xml"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// Names of the installed service.
const (
	Unit    = "brokerd.service"   // the systemd user unit
	Label   = "com.brokerd.agent" // the launchd job
	EnvFile = "60-brokerd.conf"   // the environment.d file
	LogFile = "brokerd.log"       // under ~/Library/Logs/brokerd on macOS
)

//go:embed systemd/brokerd.service.tmpl systemd/environment.conf.tmpl launchd/agent.plist.tmpl
var templates embed.FS

// The templates are parsed on first use: only install and uninstall need
// them, not the daemon.
var (
	unitTemplate = sync.OnceValue(func() *template.Template {
		return template.Must(template.ParseFS(templates, "systemd/brokerd.service.tmpl"))
	})
	envTemplate = sync.OnceValue(func() *template.Template {
		return template.Must(template.ParseFS(templates, "systemd/environment.conf.tmpl"))
	})
	// Every value put in the plist goes through xml, so a path holding & or
	// < stays one string.
	plistTemplate = sync.OnceValue(func() *template.Template {
		return template.Must(template.New("agent.plist.tmpl").
			Funcs(template.FuncMap{"xml": xmlEscape}).
			ParseFS(templates, "launchd/agent.plist.tmpl"))
	})
)

// Options say what to install, and where. Install needs every field but
// Listen, DefaultProfile and BinaryOnPath; Uninstall needs GOOS, Home and
// UID.
type Options struct {
	GOOS   string // "linux" or "darwin"
	Binary string // absolute path of the brokerd executable the service runs
	Home   string // the user's home directory, absolute (as $HOME has it: clean or not)
	UID    int    // the user's id, for launchd's gui/UID domain
	// StateDir is the daemon's state directory, absolute, as state.DirPath
	// finds it; the service is pinned to it with BROKERD_STATE_DIR so that
	// the token file the environment names is the one the daemon writes.
	StateDir string
	// ConfigFile is the AWS config file the service reads, absolute;
	// empty means the daemon's default (~/.aws/config). Install sets it
	// from AWS_CONFIG_FILE, which the service manager does not pass on,
	// so that the service serves the profiles install chose from.
	ConfigFile string
	// Listen is serve's --listen; empty means the daemon's default
	// (wire.DefaultListen) and no flag.
	Listen string
	// DefaultProfile is serve's --default-profile; empty means no flag.
	// It is exported as BROKERD_PROFILE beside the endpoint.
	DefaultProfile string
	// Region is the region for the default profile's SDKs (see
	// region.Of), exported as AWS_REGION and AWS_DEFAULT_REGION unless
	// the session has a region already; empty means none is exported.
	Region string
	// BinaryOnPath says whether `brokerd` on $PATH is Binary; if not, the
	// line suggested for shell rc files names Binary by its path.
	BinaryOnPath bool
	// Reinstall says that a service is installed already (see
	// ReadInstalled): should the install fail, the old one is put back
	// and restarted instead of being disabled.
	Reinstall bool
}

// Paths of the installed files.
func (o Options) systemdDir() string { return filepath.Join(o.Home, ".config", "systemd", "user") }
func (o Options) unitPath() string   { return filepath.Join(o.systemdDir(), Unit) }
func (o Options) wantsPath() string {
	return filepath.Join(o.systemdDir(), "default.target.wants", Unit)
}
func (o Options) envPath() string { return filepath.Join(o.Home, ".config", "environment.d", EnvFile) }
func (o Options) plistPath() string {
	return filepath.Join(o.Home, "Library", "LaunchAgents", Label+".plist")
}
func (o Options) logDir() string { return filepath.Join(o.Home, "Library", "Logs", "brokerd") }

func (o Options) launchdDomain() string { return "gui/" + strconv.Itoa(o.UID) }

// checkUninstall checks the fields Uninstall needs.
func (o Options) checkUninstall() error {
	if o.GOOS != "linux" && o.GOOS != "darwin" {
		return fmt.Errorf("brokerd installs as a user service on Linux (systemd) and macOS (launchd), not on %s: run `brokerd serve` instead", o.GOOS)
	}
	// HOME may end in a slash, or hold "//": every path is joined from it.
	if err := checkPath("home directory", filepath.Clean(o.Home)); err != nil {
		return err
	}
	if o.UID < 0 {
		return fmt.Errorf("user id %d is not valid", o.UID)
	}
	return nil
}

// check checks the fields Install needs.
func (o Options) check() error {
	if err := o.checkUninstall(); err != nil {
		return err
	}
	if err := checkPath("brokerd binary", o.Binary); err != nil {
		return err
	}
	if err := checkPath("state directory", o.StateDir); err != nil {
		return err
	}
	if o.ConfigFile != "" {
		if err := checkPath("AWS config file", o.ConfigFile); err != nil {
			return err
		}
	}
	if o.GOOS == "linux" {
		// systemd refuses an executable path holding quotes or a backslash,
		// and environment.d expands $; no escaping gets these through both.
		for _, p := range []struct{ what, path string }{{"brokerd binary", o.Binary}, {"state directory", o.StateDir}, {"AWS config file", o.ConfigFile}} {
			if i := strings.IndexAny(p.path, "\"'\\$`"); i >= 0 {
				return fmt.Errorf("the %s path %q holds %q, which systemd unit and environment files cannot: move it to a plainer path", p.what, p.path, p.path[i])
			}
		}
	}
	if _, err := o.listenAddr(); err != nil {
		return err
	}
	if o.DefaultProfile != "" {
		if err := keychain.ValidProfile(o.DefaultProfile); err != nil {
			return fmt.Errorf("--default-profile: %w", err)
		}
	}
	if o.Region != "" && !regionName.MatchString(o.Region) {
		return fmt.Errorf("region %q is not a region name such as eu-west-1: fix the region of profile %s in the AWS config file", o.Region, o.DefaultProfile)
	}
	return nil
}

// regionName is the shape of region names (eu-west-1, us-gov-west-1,
// cn-north-1), which environment.d and launchctl take without quoting.
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)

// checkPath checks that path is absolute, clean and free of control
// characters, which neither XML nor unit files can hold.
func checkPath(what, path string) error {
	if path == "" {
		return fmt.Errorf("the %s is not known", what)
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("the %s path %q is not absolute and clean", what, path)
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("the %s path %q holds a control character: move it to a plainer path", what, path)
	}
	return nil
}

// listenAddr is the host:port SDKs reach the daemon at: Listen, else the
// daemon's default, with localhost as 127.0.0.1 (what the daemon binds and
// publishes). The port must be fixed, since the environment names it.
func (o Options) listenAddr() (string, error) {
	addr, err := wire.CheckListen(cmp.Or(o.Listen, wire.DefaultListen))
	if err != nil {
		return "", fmt.Errorf("--listen: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--listen %q: an installed service needs a fixed port from 1 to 65535, since the environment names it", o.Listen)
	}
	return addr, nil
}

// Vars are the variables that point AWS SDKs at the installed daemon, as
// name/value pairs in a fixed order: the same values as `brokerd env`
// prints while the daemon runs.
func (o Options) Vars() ([][2]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	addr, err := o.listenAddr()
	if err != nil {
		return nil, err
	}
	return [][2]string{
		{wire.VarURL, state.Endpoint{URL: "http://" + addr}.CredentialsURL("")},
		{wire.VarTokenFile, filepath.Join(o.StateDir, state.TokenFile)},
	}, nil
}

// serveArgs is the daemon's command line.
func (o Options) serveArgs() []string {
	return append([]string{o.Binary, "serve"}, o.flags()...)
}

// flags are the flags that install passes through to serve, and that
// advice to run serve or install again repeats: --listen and
// --default-profile, each only when set (install and serve alike take
// "default" when --default-profile is not given).
func (o Options) flags() []string {
	var args []string
	if o.Listen != "" {
		args = append(args, "--listen", o.Listen)
	}
	if o.DefaultProfile != "" && o.DefaultProfile != "default" { // serve's own default
		args = append(args, "--default-profile", o.DefaultProfile)
	}
	return args
}

// bin is how a shell line names Binary: brokerd when that is the brokerd on
// $PATH, else its path, quoted.
func (o Options) bin() string {
	if o.BinaryOnPath || o.Binary == "" {
		return "brokerd"
	}
	return wire.ShellQuote(o.Binary)
}

// Command is the shell command line that runs brokerd's sub (serve or
// install) with the flags install was given (see flags), for messages
// that tell the user what to run: advice to run `brokerd serve` without
// them would serve another profile, or listen elsewhere, than was asked.
func (o Options) Command(sub string) string {
	return o.bin() + " " + wire.ShellJoin(append([]string{sub}, o.flags()...))
}

// SystemdUnit renders the systemd user unit.
func SystemdUnit(o Options) ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	words := make([]string, 0, 6)
	for _, a := range o.serveArgs() {
		words = append(words, systemdQuote(a))
	}
	data := struct{ ExecStart, StateDirEnv, ConfigEnv string }{
		ExecStart:   strings.Join(words, " "),
		StateDirEnv: systemdQuote(state.DirVar + "=" + o.StateDir),
	}
	if o.ConfigFile != "" {
		data.ConfigEnv = systemdQuote("AWS_CONFIG_FILE=" + o.ConfigFile)
	}
	return render(unitTemplate(), data)
}

// EnvironmentFile renders the environment.d file that exports Vars, the
// default profile's name (BROKERD_PROFILE) and its region to the user
// manager and the sessions it starts. The region lines keep a region the
// session has already, from an earlier environment.d file or the manager's
// own environment, and give both variables the same region.
func EnvironmentFile(o Options) ([]byte, error) {
	vars, err := o.Vars()
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, v := range vars {
		lines = append(lines, v[0]+"="+envQuote(v[1]))
	}
	if o.DefaultProfile != "" {
		lines = append(lines, wire.VarProfile+"="+envQuote(o.DefaultProfile))
	}
	if o.Region != "" {
		lines = append(lines,
			fmt.Sprintf("%s=${%s:-${%s:-%s}}", wire.VarRegion, wire.VarRegion, wire.VarDefRegion, o.Region),
			fmt.Sprintf("%s=${%s:-$%s}", wire.VarDefRegion, wire.VarDefRegion, wire.VarRegion))
	}
	return render(envTemplate(), lines)
}

// LaunchdPlist renders the LaunchAgent's property list.
func LaunchdPlist(o Options) ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return render(plistTemplate(), struct {
		Label, StateDir, ConfigFile, Log string
		Args                             []string
	}{Label: Label, StateDir: o.StateDir, ConfigFile: o.ConfigFile, Log: filepath.Join(o.logDir(), LogFile), Args: o.serveArgs()})
}

func render(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}

// systemdQuote quotes one word of an ExecStart= or Environment= line when it
// needs quoting. Specifiers (%) are doubled; quotes and backslashes were
// refused by check, and $ has no special meaning in an executable path or
// in Environment=.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if s != "" && !strings.ContainsAny(s, " \t;") {
		return s
	}
	return `"` + s + `"`
}

// envQuote quotes an environment.d value when it needs quoting; check
// refused the characters that double quotes do not protect ($ ` " \).
func envQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:._-@=+,") == "" {
		return s
	}
	return `"` + s + `"`
}

// xmlEscape escapes s for XML character data.
func xmlEscape(s string) (string, error) {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return "", err
	}
	return b.String(), nil
}
