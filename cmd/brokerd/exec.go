package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/wire"
)

// scrubbed are the variables that would shadow the endpoint in an SDK's
// default credential chain, removed from the environment of `brokerd exec`.
var scrubbed = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", wire.VarRelativeURI,
	wire.VarToken, "AWS_WEB_IDENTITY_TOKEN_FILE",
}

func (e *env) execCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec PROFILE -- COMMAND [ARGS...]",
		Short: "Run a command with AWS SDKs pointed at one profile",
		Long: "Run a command whose AWS SDKs and aws CLI get the credentials of PROFILE from the daemon.\n" +
			"Variables that would shadow the endpoint (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n" +
			"AWS_SESSION_TOKEN, AWS_PROFILE, ...) are removed from its environment; its exit code is brokerd's.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: brokerd exec PROFILE -- COMMAND [ARGS...]")
			}
			vars, err := endpointVars(args[:1])
			if err != nil {
				return err
			}
			path, err := exec.LookPath(args[1])
			if errors.Is(err, exec.ErrNotFound) {
				return fmt.Errorf("%s: command not found (PATH=%s)", args[1], os.Getenv("PATH"))
			}
			if err != nil {
				return err
			}
			// Replacing brokerd's process passes signals, the terminal and
			// the exit code straight through.
			return syscall.Exec(path, args[1:], execEnv(os.Environ(), vars))
		},
	}
}

// execEnv is environ without the scrubbed variables, plus vars.
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
		out = append(out, v[0]+"="+v[1])
	}
	return out
}
