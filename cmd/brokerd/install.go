package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/deploy"
	"github.com/brokerd/brokerd/profile"
)

func (e *env) installCmd() *cobra.Command {
	var dryRun bool
	var o deploy.Options
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Run this brokerd binary as a user service that starts at login (systemd on Linux, launchd on macOS)",
		Long: "Install this brokerd binary as a user service that starts at login and restarts after a crash\n" +
			"(a systemd user unit on Linux, a LaunchAgent on macOS), start it, and export its endpoint, its default\n" +
			"profile (BROKERD_PROFILE) and that profile's region (AWS_REGION, AWS_DEFAULT_REGION, where no region\n" +
			"is set) to the programs of later sessions. The default profile is --default-profile, else the\n" +
			"profile \"default\" when there is one. Nothing is installed when there is no user manager (or GUI\n" +
			"session) to run the service, or when a brokerd other than the service (`brokerd serve` in a terminal)\n" +
			"or another program holds its port, and a failed install is undone. Run it again after replacing the\n" +
			"binary or to change the flags. With --dry-run it prints every file and command instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := notUnderSudo("install"); err != nil {
				return err
			}
			bin, err := deploy.Binary()
			if err != nil {
				return err
			}
			if o.Home, err = os.UserHomeDir(); err != nil {
				return err
			}
			// An install again keeps the directory the service has,
			// whose token file shells and sessions already name.
			if o.StateDir, err = statePath(); err != nil {
				return err
			}
			o.GOOS, o.Binary, o.UID = runtime.GOOS, bin, os.Getuid()
			o.BinaryOnPath = onPath(bin)
			// --listen first: the refusals below name the command to run
			// instead (brokerd serve, or install again) with these
			// options, which must not be refused in turn.
			if _, err := o.Vars(); err != nil {
				return err
			}
			if !dryRun { // nothing else matters without a service manager
				if err := deploy.Preflight(cmd.Context(), o, deploy.ExecRunner{}); err != nil {
					return err
				}
			}
			installed, err := deploy.ReadInstalled(o)
			if err != nil {
				return err
			}
			o.Reinstall = installed.Present
			// A brokerd serving in a terminal, or another program on the
			// port, would stop the service from starting, and only its
			// log would say why; the installed service itself is fine.
			if !dryRun {
				if err := deploy.CheckServing(cmd.Context(), o, installed, deploy.ExecRunner{}); err != nil {
					return err
				}
			}
			// The daemon may not run yet to ask: deploy reads the config.
			config, err := profile.Path()
			if err != nil {
				return err
			}
			if os.Getenv("AWS_CONFIG_FILE") != "" { // the service is to read it too
				if o.ConfigFile, err = filepath.Abs(config); err != nil {
					return err
				}
			}
			keys, err := e.keys.Profiles(cmd.Context())
			if err != nil {
				fmt.Fprintf(e.stderr, "brokerd: warning: the keychain cannot list its profiles (%v): only those of %s are known\n", err, config)
			}
			choice, err := deploy.ChooseProfile(config, keys, o)
			if err != nil {
				return err
			}
			o.DefaultProfile, o.Region = choice.Profile, choice.Region
			plan, err := deploy.Install(o)
			if err != nil {
				return err
			}
			// Ctrl-C ends the step under way, then what was done is
			// undone, rather than the install being killed half done.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return e.carryOut(ctx, plan, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the files and commands instead")
	cmd.Flags().StringVar(&o.Listen, "listen", "", "serve's --listen: a loopback address with a fixed port (default 127.0.0.1:9911)")
	cmd.Flags().StringVar(&o.DefaultProfile, "default-profile", "", "the profile served to SDKs that name none (default: the profile \"default\")")
	return cmd
}

func (e *env) uninstallCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the user service that `brokerd install` set up",
		Long: "Stop and remove the user service and the files that `brokerd install` set up, and withdraw its\n" +
			"endpoint variables from the user manager (systemd) or launchd. Nothing installed is fine.\n" +
			"With --dry-run it prints every file and command instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := notUnderSudo("uninstall"); err != nil {
				return err
			}
			home, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			o := deploy.Options{GOOS: runtime.GOOS, Home: home, UID: os.Getuid()}
			plan, err := deploy.Uninstall(o)
			if err != nil {
				return err
			}
			if in, err := deploy.ReadInstalled(o); err == nil && !in.Present && !dryRun {
				// What a removal by hand may have left is cleared all the
				// same, without reporting each step failing for want of
				// a service.
				if err := deploy.Apply(cmd.Context(), plan, deploy.ExecRunner{}, nil); err != nil {
					return fmt.Errorf("%s: %w", plan.Name, err)
				}
				fmt.Fprintln(e.stdout, "brokerd is not installed as a user service: nothing to uninstall")
				return nil
			}
			return e.carryOut(cmd.Context(), plan, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the files and commands instead")
	return cmd
}

// carryOut prints plan, or applies it and prints its notes.
func (e *env) carryOut(ctx context.Context, plan deploy.Plan, dryRun bool) error {
	if dryRun {
		return plan.Format(e.stdout)
	}
	if err := deploy.Apply(ctx, plan, deploy.ExecRunner{}, e.stderr); err != nil {
		return fmt.Errorf("%s: %w", plan.Name, err)
	}
	fmt.Fprintln(e.stdout)
	for _, n := range plan.Notes {
		fmt.Fprintln(e.stdout, n)
	}
	return nil
}

// notUnderSudo refuses to run under sudo, which would set up the service
// of root (or, keeping $HOME, write the user's files as root).
func notUnderSudo(command string) error {
	if u := os.Getenv("SUDO_USER"); u != "" && os.Getuid() == 0 {
		return fmt.Errorf("run `brokerd %s` as %s, without sudo: the service is per user", command, u)
	}
	return nil
}

// onPath says whether `brokerd` on $PATH is bin.
func onPath(bin string) bool {
	p, err := exec.LookPath("brokerd")
	if err != nil {
		return false
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	p, err = filepath.Abs(p)
	return err == nil && p == bin
}
