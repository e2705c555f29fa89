package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/deploy"
	"github.com/brokerd/brokerd/region"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) envCmd() *cobra.Command {
	var shell string
	cmd := &cobra.Command{
		Use:   "env [PROFILE]",
		Short: "Print the shell lines that point AWS SDKs at brokerd, whether or not it runs yet",
		Long: "Print the lines that point AWS SDKs and the aws CLI at brokerd: the endpoint, the token file,\n" +
			"BROKERD_PROFILE and the profile's region (AWS_REGION and AWS_DEFAULT_REGION, unless this shell has\n" +
			"a region of its own; BROKERD_REGION records the region brokerd gave, which it replaces, or unsets\n" +
			"for a profile without one). The endpoint and token file do not change when the daemon restarts, so a\n" +
			"shell set up before the daemon starts works as soon as it runs; when it does not answer, a warning\n" +
			"goes to standard error and the exit status is still 0, so rc files never break a shell.\n\n" +
			"  eval \"$(brokerd env)\"                        # bash, zsh: the daemon's default profile\n" +
			"  eval \"$(brokerd env prod)\"                   # profile prod\n" +
			"  brokerd env --shell fish | source            # fish\n" +
			"  brokerd env --shell powershell | Invoke-Expression",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := firstArg(args)
			if err := checkShell(shell); err != nil {
				return usageError{err, cmd}
			}
			vars, warnings, err := e.shellVars(cmd.Context(), name, os.Getenv)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintf(e.stderr, "brokerd: warning: %s\n", w)
			}
			return printVars(e.stdout, shell, vars)
		},
	}
	cmd.Flags().StringVar(&shell, "shell", "bash", "bash, zsh, fish or powershell")
	return cmd
}

// ask bounds the CLI's questions to the daemon where a shell waits.
const ask = 3 * time.Second

// shellVars are the variables that point SDKs at brokerd for profile name
// (empty: the daemon's default), in a fixed order, with warnings for
// standard error. They do not need a running daemon: the endpoint is the
// published one, else the installed service's (deploy.ReadInstalled), else
// wire.DefaultListen, and the token file is always the state directory's.
// The daemon, when it answers, names the profile and its region; a name it
// does not know is an error. getenv reads the shell's environment, whose
// region is never overridden (region.Exports), but for the one brokerd
// gave (BROKERD_REGION); while brokerd does not know the profile's region,
// no region is taken for brokerd's.
func (e *env) shellVars(ctx context.Context, name string, getenv func(string) string) (vars [][2]string, warnings []string, err error) {
	path, err := statePath()
	if err != nil {
		return nil, nil, err
	}
	dir := state.Dir{Path: path}
	installed := e.installed()
	base := "http://" + cmp.Or(installed.Listen, wire.DefaultListen)
	ep, eperr := dir.Endpoint()
	if eperr == nil {
		base = ep.URL
	}
	ctx, cancel := context.WithTimeout(ctx, ask)
	defer cancel()
	client := control.NewClient(dir)
	defer client.Close()
	profile, reg, known := name, "", false
	res, err := client.Resolve(ctx, name)
	switch {
	case err == nil:
		profile, reg, known = res.Profile, res.Region, true
	case isCode(err, "ProfileNotFound") && name != "":
		return nil, nil, err
	case isCode(err, "ProfileNotFound"):
		// The daemon's default profile is missing: SDKs get
		// ProfileNotFound until it is there, but the lines are right.
		profile = ""
		warnings = append(warnings, err.Error()+"; or name a profile: brokerd env PROFILE (brokerd install --default-profile NAME changes the default)")
	case answered(err) && name != "":
		return nil, nil, err
	case answered(err):
		// The daemon runs but cannot resolve its default profile (an
		// invalid config, say): the lines are right once it can.
		profile = ""
		warnings = append(warnings, err.Error()+" (brokerd doctor checks the config file)")
	default:
		if installed.DefaultProfile != "" && (name == "" || name == installed.DefaultProfile) {
			profile, reg, known = installed.DefaultProfile, installed.Region, true
		}
		warnings = append(warnings, notAnswering(err, dir, installed, base))
		if reg == "" && getenv(wire.VarRegion) == "" && getenv(wire.VarDefRegion) == "" {
			which := "the daemon's default profile"
			if profile != "" {
				which = "profile " + profile
			}
			warnings = append(warnings, "the region of "+which+" is not known while brokerd does not answer: run this again once it does, or set AWS_REGION and AWS_DEFAULT_REGION")
		}
	}
	if w := keysShadow(getenv); w != "" {
		warnings = append(warnings, w)
	}
	vars = [][2]string{
		{wire.VarURL, state.Endpoint{URL: base}.CredentialsURL(name)},
		{wire.VarTokenFile, dir.Join(state.TokenFile)},
	}
	if profile != "" {
		vars = append(vars, [2]string{wire.VarProfile, profile})
	}
	if !known {
		// Nothing is taken for brokerd's region, which stays until
		// brokerd knows this profile's.
		return append(vars, region.Exports(getenv, "", "")...), warnings, nil
	}
	return append(vars, regionVars(getenv, reg, e.ours(ctx, client, getenv, profile, reg))...), warnings, nil
}

// keysShadow says that this shell holds keys in its environment, which
// every SDK reads before the endpoint, so that the lines env prints change
// nothing for them; "" when it holds none. The keys are never shown.
func keysShadow(getenv func(string) string) string {
	var set []string
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY"} {
		if getenv(v) != "" {
			set = append(set, v)
		}
	}
	if getenv("AWS_ACCESS_KEY_ID") == "" && getenv("AWS_ACCESS_KEY") == "" {
		return "" // a secret or token without a key id is read by no SDK
	}
	return fmt.Sprintf("this shell sets %s, which AWS SDKs and the aws CLI use before brokerd's endpoint: run `unset %s` "+
		"(or `brokerd exec PROFILE` for one command, which leaves them out)", strings.Join(set, ", "), strings.Join(set, " "))
}

// regionVars are the region variables to set to want (region.Exports),
// those to unset, with an empty value, that hold ours, the region brokerd
// gave before, when there is none to give (region.Stale), and
// BROKERD_REGION, which records the region brokerd gives (region.Given).
func regionVars(getenv func(string) string, want, ours string) [][2]string {
	vars := region.Exports(getenv, want, ours)
	for _, v := range region.Stale(getenv, want, ours) {
		vars = append(vars, [2]string{v, ""})
	}
	if given := region.Given(getenv, want, ours); getenv(wire.VarRegionGiven) != given {
		vars = append(vars, [2]string{wire.VarRegionGiven, given})
	}
	return vars
}

// ours is the region brokerd gave this shell before: BROKERD_REGION, else
// (a session set up by brokerd install) the region of the profile that
// BROKERD_PROFILE names.
func (e *env) ours(ctx context.Context, client *control.Client, getenv func(string) string, profile, reg string) string {
	if r := getenv(wire.VarRegionGiven); r != "" {
		return r
	}
	return e.regionOf(ctx, client, getenv(wire.VarProfile), profile, reg)
}

// regionOf is the region brokerd gave prev, the profile a shell used
// before (BROKERD_PROFILE): a region variable holding it was brokerd's,
// not the user's. It is "" when prev is empty or the daemon does not say.
func (e *env) regionOf(ctx context.Context, client *control.Client, prev, profile, reg string) string {
	switch prev {
	case "":
		return ""
	case profile:
		return reg
	}
	res, err := client.Resolve(ctx, prev)
	if err != nil {
		return ""
	}
	return res.Region
}

// installed is what the installed service was set up with
// (installedService).
func (e *env) installed() deploy.Installed { return installedService() }

// notAnswering says that the daemon at base does not answer, what SDKs
// then do, and how to start it. A daemon that stops removes its token
// file, and SDKs fail to read it; one killed (kill -9, a crash) leaves it,
// and SDKs fail to connect; one that runs and does not answer leaves them
// waiting.
func notAnswering(err error, dir state.Dir, installed deploy.Installed, base string) string {
	token := dir.Join(state.TokenFile)
	why, fails := "it is not running", fmt.Sprintf("fail with \"No such file or directory: '%s'\"", token)
	_, serr := os.Stat(token)
	left := serr == nil
	switch {
	case errors.Is(err, control.ErrNotAnswering):
		return fmt.Sprintf("%v; the lines below work once it answers, until then SDKs in this shell get no answer from %s", err, base)
	case !errors.Is(err, state.ErrNotRunning):
		why = err.Error()
		if left {
			fails = "get no answer from " + base
		}
	case left:
		why = "it stopped without cleaning up: killed, or crashed"
		fails = fmt.Sprintf("fail with `Could not connect to the endpoint URL: \"%s/v1/credentials…\"`", base)
	}
	start := "`brokerd install` (a user service) or `brokerd serve`"
	if installed.Present {
		start = startService(installed)
	}
	return fmt.Sprintf("brokerd does not answer (%s); the lines below work once it runs, until then SDKs in this shell %s: start it with %s",
		why, fails, start)
}

// endpointVars are the endpoint and token file of the running daemon for
// the profile in args (none: the daemon's default); it fails when no
// daemon has published its endpoint.
func (e *env) endpointVars(args []string) ([][2]string, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, err
	}
	ep, err := e.runningEndpoint(dir)
	if err != nil {
		return nil, err
	}
	name := firstArg(args)
	return [][2]string{
		{wire.VarURL, ep.CredentialsURL(name)},
		{wire.VarTokenFile, dir.Join(state.TokenFile)},
	}, nil
}

// runningEndpoint is the endpoint the running daemon published; when none
// runs and the service is installed, the error says to start the service
// (serviceStopped).
func (e *env) runningEndpoint(dir state.Dir) (state.Endpoint, error) {
	ep, err := dir.Endpoint()
	if in := e.installed(); errors.Is(err, state.ErrNotRunning) && in.Present {
		return ep, serviceStopped(in)
	}
	return ep, err
}

// isCode reports whether err is the daemon's error with code.
func isCode(err error, code string) bool {
	var ce *control.Error
	return errors.As(err, &ce) && ce.Code == code
}

// answered reports whether err is the daemon's own answer (it runs, and
// refused), not a failure to reach it.
func answered(err error) bool {
	var ce *control.Error
	return errors.As(err, &ce)
}

func checkShell(shell string) error {
	switch shell {
	case "bash", "zsh", "sh", "fish", "powershell", "pwsh":
		return nil
	}
	return fmt.Errorf("--shell %q: want bash, zsh, fish or powershell", shell)
}

// psQuote doubles the quotes in a PowerShell single-quoted string: ' and
// the typographic single quotes, which its tokenizer takes for ' too
// (IsSingleQuote), so that a profile named bob’s stays whole.
var psQuote = strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019", "\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")

// printVars prints the lines that set vars in shell; a variable with an
// empty value is unset.
func printVars(w io.Writer, shell string, vars [][2]string) error {
	if err := checkShell(shell); err != nil {
		return err
	}
	var format, unset string
	switch shell {
	case "fish":
		format, unset = "set -gx %s %s;\n", "set -e %s;\n"
	case "powershell", "pwsh":
		for _, v := range vars {
			if v[1] == "" {
				fmt.Fprintf(w, "Remove-Item Env:%s\n", v[0])
				continue
			}
			fmt.Fprintf(w, "$Env:%s = '%s'\n", v[0], psQuote.Replace(v[1]))
		}
		return nil
	default:
		format, unset = "export %s=%s\n", "unset %s\n"
	}
	for _, v := range vars {
		if v[1] == "" {
			fmt.Fprintf(w, unset, v[0])
			continue
		}
		fmt.Fprintf(w, format, v[0], wire.ShellQuote(v[1]))
	}
	return nil
}
