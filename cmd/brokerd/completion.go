package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
)

// shells are the shells brokerd has completions for.
var shells = []string{"bash", "zsh", "fish", "powershell"}

func (e *env) completionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for brokerd (profile names included)",
		Long: "Print the completion script for a shell. Profile names are completed wherever a profile is taken,\n" +
			"from the running daemon (the AWS config file) and the keychain. For example:\n\n" +
			"  source <(brokerd completion bash)                 # bash, in ~/.bashrc\n" +
			"  brokerd completion zsh > \"${fpath[1]}/_brokerd\"  # zsh\n" +
			"  brokerd completion fish | source                  # fish\n" +
			"  brokerd completion powershell | Out-String | Invoke-Expression",
		ValidArgs: shells,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("name one shell: %s", strings.Join(shells, ", "))
			}
			if !slices.Contains(shells, args[0]) {
				return fmt.Errorf("brokerd has completions for %s, not %s", strings.Join(shells, ", "), args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(e.stdout, true)
			case "zsh":
				return root.GenZshCompletion(e.stdout)
			case "fish":
				return root.GenFishCompletion(e.stdout, true)
			default:
				return root.GenPowerShellCompletionWithDesc(e.stdout)
			}
		},
	}
}

// completeProfiles gives profile names to every command whose first
// argument is a profile (its usage line says PROFILE, or PROFILE|…; IAM
// Identity Center sessions are offered too) and to every flag
// named default-profile or profile, unless it completes them itself. Run
// it once all commands are added.
func (e *env) completeProfiles(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f := strings.Fields(c.Use); len(f) > 1 && c.ValidArgsFunction == nil {
			takes := strings.Split(strings.Trim(f[1], "[]"), "|")
			sessions := slices.Contains(takes, "SSO-SESSION")
			if slices.Contains(takes, "PROFILE") {
				c.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
					if len(args) > 0 {
						return nil, cobra.ShellCompDirectiveDefault // exec's command, for one
					}
					return e.profileNames(cmd.Context(), prefix, sessions), cobra.ShellCompDirectiveNoFileComp
				}
			}
		}
		for _, flag := range []string{"default-profile", "profile"} {
			if c.LocalNonPersistentFlags().Lookup(flag) == nil {
				continue
			}
			if _, ok := c.GetFlagCompletionFunc(flag); ok {
				continue
			}
			c.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
				return e.profileNames(cmd.Context(), prefix, false), cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// profileNames lists the profiles starting with prefix that the running
// daemon knows (from the AWS config file) and that have keys in the
// keychain; either may be missing. With sessions, the IAM Identity Center
// sessions too. It takes at most two seconds.
func (e *env) profileNames(ctx context.Context, prefix string, sessions bool) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var names []string
	if dir, err := stateDir(); err == nil {
		c := control.NewClient(dir)
		if st, err := c.Status(ctx); err == nil {
			for _, p := range st.Profiles {
				names = append(names, p.Name)
			}
			for _, s := range st.SSOSessions {
				if sessions {
					names = append(names, s.Name)
				}
			}
		}
		c.Close()
	}
	if keys, err := e.keys.Profiles(ctx); err == nil {
		names = append(names, keys...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, prefix) })
}
