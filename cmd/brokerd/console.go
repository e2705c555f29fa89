package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
)

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
			dir, err := stateDir()
			if err != nil {
				return err
			}
			name := firstArg(args)
			u, err := control.NewClient(dir).Console(cmd.Context(), control.Console{Profile: name, Destination: destination,
				Region: region, DurationSeconds: int(duration / time.Second)})
			if err != nil {
				return err
			}
			if printURL {
				fmt.Fprintln(e.stdout, u.URL)
				return nil
			}
			if !openBrowser(u.URL) {
				return errors.New("no browser to open here (no desktop session, or set BROWSER): run brokerd console with --print and open the URL it prints within 15 minutes")
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
