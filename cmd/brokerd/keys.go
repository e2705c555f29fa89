package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage long-term keys in the OS keychain"}
	var fromEnv bool
	add := &cobra.Command{
		Use:   "add PROFILE",
		Short: "Store a profile's long-term access key in the keychain",
		Long: "Store a profile's long-term access key id and secret access key in the OS keychain.\n" +
			"On a terminal it asks for both (the secret without echo); otherwise it reads two lines from\n" +
			"standard input: the access key id, then the secret access key. With --from-env it takes\n" +
			"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Nothing is written to any file.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keychain.ValidProfile(args[0]); err != nil {
				return err
			}
			k, err := e.readKeys(fromEnv)
			if err != nil {
				return err
			}
			if err := e.keys.AddKeys(cmd.Context(), args[0], k); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "stored keys %s for profile %s in the keychain\n", wire.Mask(k.AccessKeyID), args[0])
			e.tellDaemon(cmd.Context(), control.KeysChange{Profile: args[0]})
			return nil
		},
	}
	add.Flags().BoolVar(&fromEnv, "from-env", false, "read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the profiles that have keys (key ids masked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := e.keys.Profiles(cmd.Context())
			if err != nil {
				return err
			}
			if len(names) == 0 {
				fmt.Fprintln(e.stderr, "no keys stored: add some with `brokerd keys add PROFILE`")
			}
			for _, n := range names {
				k, err := e.keys.Keys(cmd.Context(), n)
				id := "(missing)"
				if err == nil {
					id = wire.Mask(k.AccessKeyID)
				}
				fmt.Fprintf(e.stdout, "%s\t%s\n", n, id)
			}
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove PROFILE",
		Short: "Delete a profile's keys from the keychain",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := e.keys.RemoveKeys(cmd.Context(), args[0])
			if errors.Is(err, keychain.ErrNotFound) {
				return fmt.Errorf("profile %q has no keys in the keychain (see `brokerd keys list`)", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed keys of profile %s\n", args[0])
			e.tellDaemon(cmd.Context(), control.KeysChange{Profile: args[0], Removed: true})
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// readKeys reads a key pair from the environment, the terminal or stdin.
func (e *env) readKeys(fromEnv bool) (keychain.Keys, error) {
	if fromEnv {
		k := keychain.Keys{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
		if k.AccessKeyID == "" || k.SecretAccessKey == "" {
			return keychain.Keys{}, errors.New("--from-env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set")
		}
		return k, k.Validate()
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Access key id: ")
		id, err := bufio.NewReader(f).ReadString('\n')
		if err != nil {
			return keychain.Keys{}, fmt.Errorf("read access key id: %w", err)
		}
		fmt.Fprint(e.stderr, "Secret access key (not shown): ")
		secret, err := readHidden(f)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return keychain.Keys{}, fmt.Errorf("read secret access key: %w", err)
		}
		k := keychain.Keys{AccessKeyID: strings.TrimSpace(id), SecretAccessKey: strings.TrimSpace(string(secret))}
		return k, k.Validate()
	}
	sc := bufio.NewScanner(e.stdin)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return keychain.Keys{}, fmt.Errorf("read keys from standard input: %w", err)
	}
	if len(lines) < 2 {
		return keychain.Keys{}, errors.New("standard input must hold two lines: the access key id, then the secret access key")
	}
	k := keychain.Keys{AccessKeyID: lines[0], SecretAccessKey: lines[1]}
	return k, k.Validate()
}

// tellDaemon tells a running daemon that keys changed, so it drops what
// removed keys signed at once, or uses new keys at once; a daemon that is
// not running needs no telling.
func (e *env) tellDaemon(ctx context.Context, c control.KeysChange) {
	dir, err := stateDir()
	if err != nil {
		return
	}
	if err := control.NewClient(dir).KeysChanged(ctx, c); err != nil && !errors.Is(err, state.ErrNotRunning) {
		fmt.Fprintf(e.stderr, "warning: the running daemon was not told (%v): restart it\n", err)
	}
}
