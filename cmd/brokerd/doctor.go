package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/credfile"
	"github.com/brokerd/brokerd/doctor"
	"github.com/brokerd/brokerd/profile"
)

func (e *env) doctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that SDKs in this shell get credentials and a region from brokerd, lint the AWS config, and say how to fix what is wrong",
		Long: "Check the daemon, this shell's variables, what would shadow brokerd in SDK credential chains\n" +
			"(AWS_PROFILE and AWS_DEFAULT_PROFILE included), the region each SDK finds, the AWS config and\n" +
			"credentials files (lines botocore refuses, unknown settings, source_profile and mfa_serial that\n" +
			"point nowhere, loops), the keychain and STS. Each problem comes with its fix. The exit status is\n" +
			"non-zero exactly when a check fails; warnings alone pass.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			denv := doctor.Env{
				Getenv:          os.Getenv,
				CredentialsFile: credentialsFile(),
				Keychain:        e.keys.Profiles,
				STSTime:         broker.STSTime,
			}
			denv.State, denv.StateErr = stateDir()
			denv.Status = func(ctx context.Context) (control.Status, error) {
				return control.NewClient(denv.State).Status(ctx)
			}
			denv.ConfigFile, _ = profile.Path()
			checks := doctor.Run(cmd.Context(), denv)
			checks = append(checks, dockerChecks(cmd.Context(), denv.State)...)
			if asJSON {
				if err := doctor.PrintJSON(e.stdout, checks); err != nil {
					return err
				}
			} else {
				doctor.Print(e.stdout, checks)
			}
			if doctor.Failed(checks) {
				return errors.New("doctor found problems: see the fixes above")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok": BOOL, "checks": [{"name", "level" (ok, warn or fail), "message", "fix"}]}`)
	return cmd
}

// credentialsFile is the shared credentials file as the SDKs find it.
func credentialsFile() string {
	if p, err := credfile.Path(); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".aws", "credentials")
}
