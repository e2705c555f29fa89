package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// scrubbed are the variables that would shadow the endpoint in an SDK's
// default credential chain, removed from the environment of `brokerd exec`.
// The Go SDK (and Java's v1) read AWS_ACCESS_KEY and AWS_SECRET_KEY too.
var scrubbed = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", wire.VarRelativeURI,
	wire.VarToken, "AWS_WEB_IDENTITY_TOKEN_FILE",
}

func (e *env) execCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec PROFILE [-- COMMAND [ARGS...]]",
		Short: "Run a command, or a shell, with AWS SDKs pointed at one profile",
		Long: "Run a command whose AWS SDKs and aws CLI get the credentials of PROFILE from the daemon; without a\n" +
			"command, start $SHELL so (as aws-vault exec does). The environment gets the endpoint, the token file,\n" +
			"BROKERD_PROFILE=PROFILE (for shell prompts) and the profile's region as AWS_REGION and\n" +
			"AWS_DEFAULT_REGION (unless a region of your own is set; the region brokerd gave before, in\n" +
			"BROKERD_REGION, is replaced, or removed for a profile without one); variables that would shadow the\n" +
			"endpoint (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ACCESS_KEY, AWS_PROFILE,\n" +
			"...) are removed. An unknown profile is refused before anything runs. The command's exit status is brokerd's.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			argv := args[1:]
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				argv = []string{cmp.Or(os.Getenv("SHELL"), "/bin/sh")}
			}
			vars, err := e.execVars(cmd.Context(), args[0], os.Getenv)
			if _, lerr := exec.LookPath(args[0]); isCode(err, "ProfileNotFound") && lerr == nil {
				// `brokerd exec aws s3 ls`: the profile left out.
				return usageError{fmt.Errorf("%q is a command, and no profile brokerd knows: name the profile first, brokerd exec PROFILE -- %s", args[0], strings.Join(args, " ")), cmd}
			}
			if err != nil {
				return err
			}
			// Exit codes as a shell's: 127 not found, 126 not runnable.
			path, err := exec.LookPath(argv[0])
			switch {
			case errors.Is(err, exec.ErrNotFound) && !strings.Contains(argv[0], "/"):
				return exitCode{127, fmt.Errorf("%s: command not found (PATH=%s)", argv[0], os.Getenv("PATH"))}
			case errors.Is(err, fs.ErrNotExist):
				return exitCode{127, fmt.Errorf("%s: no such file", argv[0])}
			case err != nil:
				return exitCode{126, err}
			}
			// Replacing brokerd's process passes signals, the terminal and
			// the exit code straight through; it returns only on failure
			// (an interpreter line naming a program that is not there).
			err = syscall.Exec(path, argv, execEnv(os.Environ(), vars))
			if errors.Is(err, fs.ErrNotExist) {
				return exitCode{127, fmt.Errorf("run %s: %w", path, err)}
			}
			return exitCode{126, fmt.Errorf("run %s: %w", path, err)}
		},
	}
	// Everything after PROFILE is the command's, its flags included.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// execVars are the variables of `brokerd exec name`; the daemon must know
// the profile.
func (e *env) execVars(ctx context.Context, name string, getenv func(string) string) ([][2]string, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, err
	}
	ep, err := e.runningEndpoint(dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, ask)
	defer cancel()
	client := control.NewClient(dir)
	defer client.Close()
	res, err := client.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	vars := [][2]string{
		{wire.VarURL, ep.CredentialsURL(name)},
		{wire.VarTokenFile, dir.Join(state.TokenFile)},
		{wire.VarProfile, name},
	}
	return append(vars, regionVars(getenv, res.Region, e.ours(ctx, client, getenv, name, res.Region))...), nil
}

// execEnv is environ without the scrubbed variables, plus vars but those
// with an empty value, which are unset.
func execEnv(environ []string, vars [][2]string) []string {
	out := make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, s := range scrubbed {
			drop = drop || name == s
		}
		for _, v := range vars {
			drop = drop || name == v[0]
		}
		if !drop {
			out = append(out, kv)
		}
	}
	for _, v := range vars {
		if v[1] != "" {
			out = append(out, v[0]+"="+v[1])
		}
	}
	return out
}
