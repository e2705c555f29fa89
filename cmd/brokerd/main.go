// Command brokerd serves temporary AWS credentials for the roles in
// ~/.aws/config to every AWS SDK and the aws CLI on this machine.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/deploy"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/state"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		var c exitCode
		if !errors.As(err, &c) {
			c = exitCode{1, err}
		}
		if c.err != nil {
			fmt.Fprintf(os.Stderr, "brokerd: %v\n", c.err)
		}
		os.Exit(c.code)
	}
}

// exitCode is an error that brokerd exits with code for: 127 for a
// command not found, as a shell; or a command's own, such as docker's,
// with err nil: the command said why, and brokerd prints nothing.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitCode) Unwrap() error { return e.err }

// env is what the commands share: streams, and how to reach the keychain
// and the state directory.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	keys           *keychain.Store
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, keys: keychain.New(keychain.System{})}
	if dir, err := os.UserCacheDir(); err == nil {
		e.keys.LockFile = filepath.Join(dir, "brokerd", "keychain.lock")
	}
	root := &cobra.Command{
		Use:           "brokerd",
		Short:         "Serve temporary AWS credentials for the roles in ~/.aws/config",
		Long:          "brokerd keeps long-term AWS keys in the OS keychain, assumes the roles of ~/.aws/config on demand,\nand serves the temporary credentials to every AWS SDK and the aws CLI on this machine.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(e.keysCmd(), e.serveCmd(), e.envCmd(), e.statusCmd(), e.loginCmd(), e.logoutCmd(),
		e.execCmd(), e.credentialProcessCmd(), e.doctorCmd())
	root.AddCommand(e.installCmd(), e.uninstallCmd())
	root.AddCommand(e.versionCmd(), e.completionCmd())
	root.Version = version()
	root.SetVersionTemplate("brokerd {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true // completion.go's has profile names
	root.AddCommand(e.consoleCmd())
	root.AddCommand(e.dockerCmd(), e.relayCmd(), e.auditCmd())
	e.completeProfiles(root)
	strict(root)
	return root.ExecuteContext(ctx)
}

// stateDir opens the state directory (statePath).
func stateDir() (state.Dir, error) {
	path, err := statePath()
	if err != nil {
		return state.Dir{}, err
	}
	return state.Open(path)
}

// statePath is the state directory that this command and the daemon
// share: BROKERD_STATE_DIR, else the one the installed service is pinned
// to, else state.DirPath. A shell's XDG_RUNTIME_DIR may not be the one
// install saw (WSLg's, which others may write to, beside a login's
// /run/user/UID), and every shell must find the service: a directory the
// installed files name is taken only where no other user can replace it
// (state.Sheltered).
func statePath() (string, error) {
	if os.Getenv(state.DirVar) == "" {
		if dir := installedService().StateDir; dir != "" && state.Sheltered(dir) {
			return dir, nil
		}
	}
	return state.DirPath()
}

// installedService is what the installed service was set up with; zero
// when nothing is installed or its files cannot be read.
func installedService() deploy.Installed {
	home, err := os.UserHomeDir()
	if err != nil {
		return deploy.Installed{}
	}
	in, _ := deploy.ReadInstalled(deploy.Options{GOOS: runtime.GOOS, Home: home, UID: os.Getuid()})
	return in
}

// firstArg is the optional first argument, "" without one.
func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
