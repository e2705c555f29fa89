package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/state"
)

// shells are the shells brokerd has completions for.
var shells = []string{"bash", "zsh", "fish", "powershell"}

func (e *env) completionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script for brokerd (profile names included)",
		Long: "Print the completion script for a shell. Profile names are completed wherever a profile is taken,\n" +
			"from the running daemon, or from the AWS config file when none runs; never from the keychain, so that\n" +
			"a TAB shows no unlock prompt. For example:\n\n" +
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
					return profileNames(cmd.Context(), prefix, sessions), cobra.ShellCompDirectiveNoFileComp
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
				return profileNames(cmd.Context(), prefix, false), cobra.ShellCompDirectiveNoFileComp
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// profileNames lists the names starting with prefix of the profiles, and
// with sessions of the IAM Identity Center sessions too, that the running
// daemon knows; with no daemon to answer (or one older than its names),
// those of the AWS config file. A TAB must not ask anything of the person:
// it never reads the keychain, whose read while locked shows an unlock
// prompt, nor creates the state directory, and takes at most two seconds.
func profileNames(ctx context.Context, prefix string, sessions bool) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := daemonNames(ctx)
	if err != nil {
		// The CLI's one read of the config file (scripts/layers).
		n.Profiles, n.SSOSessions, _ = profile.LoadNames("")
	}
	names := slices.Clone(n.Profiles)
	if sessions {
		names = append(names, n.SSOSessions...)
	}
	// What no profile can be named (a space, a newline) is no candidate.
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, prefix) || profile.CheckName(n) != nil })
	slices.Sort(names)
	return slices.Compact(names)
}

// daemonNames asks the daemon serving from the state directory for the
// names it knows. The directory is taken as it is, not created or made
// private as stateDir does: one that is missing, or that is not this
// user's alone, has no daemon of this user's to ask.
func daemonNames(ctx context.Context) (control.Names, error) {
	path, err := statePath()
	if err != nil {
		return control.Names{}, err
	}
	if !ownPrivateDir(path) {
		return control.Names{}, state.ErrNotRunning
	}
	c := control.NewClient(state.Dir{Path: path})
	defer c.Close()
	return c.Names(ctx)
}

// ownPrivateDir reports whether path is a directory, not a link, of this
// user's that no other user may enter, as state.Open leaves the state
// directory.
func ownPrivateDir(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Getuid()
}
