package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/doctor"
	"github.com/brokerd/brokerd/profile"
)

func (e *env) doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check that SDKs in this shell get credentials from brokerd, and say how to fix what stands in the way",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			denv := doctor.Env{
				Getenv:          os.Getenv,
				CredentialsFile: credentialsFile(),
				Keychain: func(ctx context.Context) error {
					_, err := e.keys.Profiles(ctx)
					return err
				},
				STSTime: broker.STSTime,
			}
			denv.State, denv.StateErr = stateDir()
			denv.Status = func(ctx context.Context) (control.Status, error) {
				return control.NewClient(denv.State).Status(ctx)
			}
			denv.ConfigFile, _ = profile.Path()
			checks := doctor.Run(cmd.Context(), denv)
			doctor.Print(e.stdout, checks)
			if doctor.Failed(checks) {
				return errors.New("doctor found problems: see the fixes above")
			}
			return nil
		},
	}
}

// credentialsFile is the shared credentials file as the SDKs find it.
func credentialsFile() string {
	if p := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".aws", "credentials")
}
