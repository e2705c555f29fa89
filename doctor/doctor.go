// Package doctor provides brokerd's self-check: whether the AWS SDKs of
// this shell will get their credentials from the daemon, and the exact fix
// for each thing that stands in the way.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/state"
)

// Level grades a check: Fail means something is wrong, Warn something
// that may be.
type Level int

const (
	OK Level = iota
	Warn
	Fail
)

func (l Level) String() string { return [...]string{"ok", "warn", "FAIL"}[l] }

// MarshalText gives the level as JSON has it: "ok", "warn" or "fail".
func (l Level) MarshalText() ([]byte, error) { return []byte(strings.ToLower(l.String())), nil }

// Check is one finding.
type Check struct {
	Name    string `json:"name"`
	Level   Level  `json:"level"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"` // the exact thing to do; empty when nothing is needed
}

// Env is what the checks look at; every field is required unless its
// comment says otherwise.
type Env struct {
	Getenv func(string) string
	// State is the state directory; StateErr, when set, says why there is none.
	State    state.Dir
	StateErr error
	// ConfigFile and CredentialsFile are the AWS shared files.
	ConfigFile, CredentialsFile string
	// Status asks the daemon for its status.
	Status func(ctx context.Context) (control.Status, error)
	// Keychain lists the profiles that have keys in the keychain.
	Keychain func(ctx context.Context) ([]string, error)
	// STSTime returns the Date an STS endpoint answers with.
	STSTime func(ctx context.Context) (time.Time, error)
	// HTTP fetches from the endpoint; nil means a client with a 2 s timeout.
	HTTP *http.Client
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Run runs every check.
func Run(ctx context.Context, env Env) []Check {
	if env.HTTP == nil {
		env.HTTP = &http.Client{Timeout: 2 * time.Second}
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	f := loadFiles(env)
	cfg := f.cfg
	var out []Check
	st, daemon := checkDaemon(ctx, env)
	out = append(out, daemon...)
	if len(daemon) > 0 && daemon[0].Level == OK {
		out = append(out, checkToken(env), checkVars(ctx, env))
		out = append(out, checkSessions(env, st)...)
	}
	out = append(out, checkSSO(env, cfg, st, len(daemon) > 0 && daemon[0].Level == OK)...)
	out = append(out, checkShadowing(env, f)...)
	out = append(out, checkIgnoreEndpointsVar(env)...)
	out = append(out, checkRegion(env, f, cfg))
	keys, keychain := checkKeychain(ctx, env)
	out = append(out, checkSyntax(env)...)
	out = append(out, checkConfig(env, f, cfg, keys, keychain.Level == OK)...)
	out = append(out, checkDurations(cfg)...)
	out = append(out, checkChaining(cfg)...)
	out = append(out, keychain, checkClock(ctx, env))
	return out
}

// files are the shared files as the SDKs read them, read once by Run.
type files struct {
	config, creds profile.File
	// cfg is the config file's profiles, for the checks that resolve
	// them; nil when it cannot be read, which configErr says why. The
	// daemon's and checkSyntax's checks report that. A credentials file
	// that cannot be read is empty.
	cfg       *profile.Config
	configErr error
}

func loadFiles(env Env) files {
	var f files
	if f.config, f.configErr = profile.LoadFile(env.ConfigFile); f.configErr == nil {
		f.cfg = f.config.Config(env.ConfigFile)
	}
	f.creds, _ = profile.LoadFile(env.CredentialsFile)
	return f
}

// Report is doctor's --json output.
type Report struct {
	OK     bool    `json:"ok"` // no check failed
	Checks []Check `json:"checks"`
}

// PrintJSON writes the checks as an indented Report.
func PrintJSON(w io.Writer, checks []Check) error {
	if checks == nil {
		checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Report{OK: !Failed(checks), Checks: checks})
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Level == Fail {
			return true
		}
	}
	return false
}

// Print writes the checks for a person.
func Print(w io.Writer, checks []Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-5s %s: %s\n", c.Level, c.Name, c.Message)
		if c.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", c.Fix)
		}
	}
}

func checkDaemon(ctx context.Context, env Env) (control.Status, []Check) {
	const name = "daemon"
	if env.StateErr != nil {
		return control.Status{}, []Check{{name, Fail, env.StateErr.Error(), "set BROKERD_STATE_DIR or log in through a session that sets XDG_RUNTIME_DIR"}}
	}
	ep, err := env.State.Endpoint()
	if err != nil {
		return control.Status{}, []Check{{name, Fail, err.Error() + "; meanwhile " + sdksWithoutDaemon(env),
			"brokerd install (as a user service) or brokerd serve (in a terminal); once installed, systemctl --user start brokerd (launchctl kickstart gui/$(id -u)/com.brokerd.agent on macOS)"}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.URL+"/healthz", nil)
	if err == nil {
		var resp *http.Response
		if resp, err = env.HTTP.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("health check answered %s", resp.Status)
			}
		}
	}
	if err != nil {
		return control.Status{}, []Check{{name, Fail, fmt.Sprintf("the state directory names %s but it does not answer (%v): it has stopped without cleaning up, and SDKs in this shell fail with `Could not connect to the endpoint URL: \"%s/v1/credentials…\"`", ep.URL, err, ep.URL),
			"restart brokerd: systemctl --user restart brokerd (Linux), launchctl kickstart -k gui/$(id -u)/com.brokerd.agent (macOS), or brokerd serve"}}
	}
	st, err := env.Status(ctx)
	if err != nil {
		return control.Status{}, []Check{{name, Fail, fmt.Sprintf("%s answers but its control socket does not: %v", ep.URL, err), "restart brokerd"}}
	}
	return st, []Check{{name, OK, fmt.Sprintf("serving %s (pid %d), default profile %q", st.Endpoint, st.PID, st.DefaultProfile), ""}}
}

func checkToken(env Env) Check {
	const name = "token file"
	path := env.State.Join(state.TokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("%s is missing", path), "restart brokerd; it writes a new token at start"}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Check{name, Fail, fmt.Sprintf("%s has mode %04o: other users could read the token", path, fi.Mode().Perm()), "chmod 600 " + path}
	}
	return Check{name, OK, path + " (mode 0600)", ""}
}

func checkSessions(env Env, st control.Status) []Check {
	var out []Check
	now := env.Now()
	for _, s := range st.Sessions {
		// The daemon stops using a session a little before it ends.
		left := s.LoginDue().Sub(now)
		switch {
		case !now.Before(s.Expires):
			out = append(out, Check{"MFA session " + s.Profile, Fail, "expired at " + s.Expires.Local().Format(time.DateTime), "brokerd login " + s.Profile})
		case left <= 0:
			out = append(out, Check{"MFA session " + s.Profile, Fail, "no longer used since " + s.LoginDue().Local().Format(time.DateTime) + ", though it expires at " + s.Expires.Local().Format(time.DateTime), "brokerd login " + s.Profile})
		case left < 30*time.Minute:
			out = append(out, Check{"MFA session " + s.Profile, Warn, fmt.Sprintf("%s left", left.Round(time.Minute)), "brokerd login " + s.Profile})
		default:
			out = append(out, Check{"MFA session " + s.Profile, OK, fmt.Sprintf("%s left, until %s", left.Round(time.Minute), s.LoginDue().Local().Format(time.DateTime)), ""})
		}
	}
	for _, p := range st.Profiles {
		if strings.Contains(p.LastError, "brokerd login") && !hasSession(st, p.LastError) {
			out = append(out, Check{"profile " + p.Name, Warn, p.LastError, ""})
		}
	}
	return out
}

func hasSession(st control.Status, msg string) bool {
	for _, s := range st.Sessions {
		if strings.HasSuffix(msg, "brokerd login "+s.Profile) {
			return true
		}
	}
	return false
}

// sdksWithoutDaemon says what SDKs pointed at brokerd report while it is
// down: it removes its token file when it stops.
func sdksWithoutDaemon(env Env) string {
	token := env.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	if token == "" {
		return "SDKs pointed at it fail"
	}
	return fmt.Sprintf("SDKs in this shell fail with `[Errno 2] No such file or directory: '%s'` (aws CLI, boto3), "+
		"`failed to read authorization token from %s` (Go), or ENOENT (JS); they work again as soon as it runs, with no change to this shell", token, token)
}
