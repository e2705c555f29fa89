package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) envCmd() *cobra.Command {
	var shell string
	cmd := &cobra.Command{
		Use:   "env [PROFILE]",
		Short: "Print the shell lines that point AWS SDKs at the running daemon",
		Long: "Print the lines that point AWS SDKs and the aws CLI at the running daemon:\n\n" +
			"  eval \"$(brokerd env)\"                        # bash, zsh: the daemon's default profile\n" +
			"  eval \"$(brokerd env prod)\"                   # profile prod\n" +
			"  brokerd env --shell fish | source            # fish\n" +
			"  brokerd env --shell powershell | Invoke-Expression",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := endpointVars(args)
			if err != nil {
				return err
			}
			return printVars(e.stdout, shell, vars)
		},
	}
	cmd.Flags().StringVar(&shell, "shell", "bash", "bash, zsh, fish or powershell")
	return cmd
}

// endpointVars are the variables that point SDKs at the running daemon for
// the profile in args (none: the daemon's default), in a fixed order.
func endpointVars(args []string) ([][2]string, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, err
	}
	ep, err := dir.Endpoint()
	if err != nil {
		return nil, err
	}
	profile := ""
	if len(args) > 0 {
		profile = args[0]
	}
	return [][2]string{
		{wire.VarURL, ep.CredentialsURL(profile)},
		{wire.VarTokenFile, dir.Join(state.TokenFile)},
	}, nil
}

func printVars(w io.Writer, shell string, vars [][2]string) error {
	var format string
	switch shell {
	case "bash", "zsh", "sh":
		format = "export %s=%s\n"
	case "fish":
		format = "set -gx %s %s;\n"
	case "powershell", "pwsh":
		for _, v := range vars {
			fmt.Fprintf(w, "$Env:%s = '%s'\n", v[0], strings.ReplaceAll(v[1], "'", "''"))
		}
		return nil
	default:
		return fmt.Errorf("--shell %q: want bash, zsh, fish or powershell", shell)
	}
	for _, v := range vars {
		fmt.Fprintf(w, format, v[0], wire.ShellQuote(v[1]))
	}
	return nil
}
