package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/state"
)

func (e *env) envCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "env [PROFILE]",
		Short: "Print the shell lines that point AWS SDKs at the running daemon",
		Long:  "Print the export lines that point AWS SDKs and the aws CLI at the running daemon:\n\n  eval \"$(brokerd env)\"        # the daemon's default profile\n  eval \"$(brokerd env prod)\"   # profile prod",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := stateDir()
			if err != nil {
				return err
			}
			ep, err := dir.Endpoint()
			if err != nil {
				return err
			}
			profile := ""
			if len(args) == 1 {
				profile = args[0]
			}
			fmt.Fprintf(e.stdout, "export AWS_CONTAINER_CREDENTIALS_FULL_URI=%s\n", shellQuote(ep.CredentialsURL(profile)))
			fmt.Fprintf(e.stdout, "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s\n", shellQuote(dir.Join(state.TokenFile)))
			return nil
		},
	}
}

// shellQuote quotes s for POSIX shells when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:._-@=+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
