package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
)

var errNoBrowser = errors.New("no browser to open here (no desktop session, or set BROWSER): run brokerd console with --print and open the URL it prints within 15 minutes")

func (e *env) consoleCmd() *cobra.Command {
	var printURL bool
	var destination, region string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "console [PROFILE]",
		Short: "Open the AWS console as a profile (default: the default profile) in the browser",
		Long: "Open the AWS Management Console signed in as a profile: a role or an IAM Identity Center profile with the\n" +
			"credentials brokerd serves for it, an IAM user's source profile through GetFederationToken with its keys.\n" +
			"The sign-in URL works once, within 15 minutes; it is a secret, shown only with --print.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// What no profile takes is refused first; the daemon checks
			// the profile's own limit (12h but for an IAM user).
			if duration != 0 && (duration < 15*time.Minute || duration > 36*time.Hour) {
				return fmt.Errorf("--duration %s: a console session lasts from 15m to 12h (36h for an IAM user's source profile)", duration)
			}
			// Before the daemon makes a sign-in URL that nothing opens.
			if !printURL && browserCommand(os.Getenv("BROWSER"), "", exec.LookPath) == nil {
				return errNoBrowser
			}
			dir, err := stateDir()
			if err != nil {
				return err
			}
			name := firstArg(args)
			u, err := control.NewClient(dir).Console(cmd.Context(), control.Console{Profile: name, Destination: destination,
				Region: region, DurationSeconds: int(duration / time.Second)})
			if err != nil {
				return unnamed(err, name, "console")
			}
			if printURL {
				fmt.Fprintln(e.stdout, u.URL)
				return nil
			}
			if !openBrowser(u.URL) {
				return errNoBrowser
			}
			fmt.Fprintln(e.stderr, "opened the AWS console in your browser")
			return nil
		},
	}
	cmd.Flags().BoolVar(&printURL, "print", false, "print the sign-in URL instead of opening it")
	cmd.Flags().StringVar(&destination, "destination", "", "console page, such as s3 or ec2/home, or a whole https URL (default: the console's home)")
	cmd.Flags().StringVar(&region, "region", "", "console region (default: the profile's, else its source profile's, as brokerd env gives)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "console session length, 15m to 12h (36h for an IAM user); default: the federation endpoint's")
	return cmd
}
