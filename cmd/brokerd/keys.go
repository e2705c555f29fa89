package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/credfile"
	"github.com/brokerd/brokerd/iamkeys"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/keyid"
	"github.com/brokerd/brokerd/rotate"
	"github.com/brokerd/brokerd/sdkenv"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage long-term keys in the OS keychain"}
	var fromEnv, replace bool
	add := &cobra.Command{
		Use:   "add PROFILE",
		Short: "Store a profile's long-term access key in the keychain",
		Long: "Store a profile's long-term access key id and secret access key in the OS keychain.\n" +
			"On a terminal it asks for both (the secret without echo), checking the key id before asking for the\n" +
			"secret; otherwise it reads two lines from standard input: the access key id, then the secret access\n" +
			"key. With --from-env it takes AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Nothing is written to any file.\n" +
			"Other keys already stored for the profile are replaced only with --replace.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := keychain.ValidProfile(args[0]); err != nil {
				return err
			}
			old, err := e.storedKeys(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			// A different key id is refused before the secret is asked for.
			k, err := e.readKeys(fromEnv, func(id string) error {
				if old != nil && id != old.AccessKeyID && !replace {
					return keysExist(args[0], *old)
				}
				return nil
			})
			if err != nil {
				return err
			}
			switch {
			case old != nil && k == *old:
				fmt.Fprintf(e.stdout, "keys %s of profile %s are in the keychain already\n", wire.Mask(k.AccessKeyID), args[0])
				return nil
			case old != nil && !replace:
				return keysExist(args[0], *old)
			}
			if err := e.keys.AddKeys(cmd.Context(), args[0], k); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "stored keys %s for profile %s in the keychain\n", wire.Mask(k.AccessKeyID), args[0])
			if fromEnv {
				// SDKs in this shell would go on using them, not brokerd.
				fmt.Fprintln(e.stderr, "brokerd: if this shell exports them, run `unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY`: AWS SDKs take those keys before brokerd's endpoint")
			}
			e.tellDaemon(cmd.Context(), control.KeysChange{Profile: args[0]})
			return nil
		},
	}
	add.Flags().BoolVar(&fromEnv, "from-env", false, "read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	add.Flags().BoolVar(&replace, "replace", false, "replace the keys the keychain holds for the profile (their secret is lost)")
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the profiles that have keys (key ids masked)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.listKeys(cmd.Context(), asJSON)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of {profile, access_key_id (masked)}")
	remove := &cobra.Command{
		Use:     "remove PROFILE",
		Aliases: []string{"rm"},
		Short:   "Delete a profile's keys from the keychain",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := e.keys.RemoveKeys(cmd.Context(), args[0])
			if errors.Is(err, keychain.ErrNotFound) {
				// Gone behind brokerd's back, maybe: the daemon may still
				// hold them, or the MFA session they opened.
				e.tellDaemon(cmd.Context(), control.KeysChange{Profile: args[0], Removed: true})
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
	cmd.AddCommand(add, list, remove, e.keysImportCmd(), e.keysRotateCmd())
	return cmd
}

// keyListing is a line of `keys list --json`.
type keyListing struct {
	Profile     string `json:"profile"`
	AccessKeyID string `json:"access_key_id,omitempty"` // masked: AKIA…WXYZ
	Error       string `json:"error,omitempty"`
	shown       string // what the text listing shows for the keys
}

func (e *env) listKeys(ctx context.Context, asJSON bool) error {
	names, err := e.keys.Profiles(ctx)
	if err != nil {
		return err
	}
	out := make([]keyListing, 0, len(names))
	for _, n := range names {
		l := keyListing{Profile: n, shown: "(missing)"}
		if k, err := e.keys.Keys(ctx, n); err == nil {
			l.AccessKeyID = wire.Mask(k.AccessKeyID)
			l.shown = l.AccessKeyID
		} else {
			l.Error = err.Error()
			if !errors.Is(err, keychain.ErrNotFound) { // there, but unreadable: say why
				l.shown = "(" + l.Error + ")"
			}
		}
		out = append(out, l)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stderr, "no keys stored: add some with `brokerd keys add PROFILE` (or move them from ~/.aws/credentials with `brokerd keys import PROFILE`)")
	}
	for _, l := range out {
		fmt.Fprintf(e.stdout, "%s\t%s\n", l.Profile, l.shown)
	}
	return nil
}

func (e *env) keysImportCmd() *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "import PROFILE",
		Short: "Move a profile's keys from ~/.aws/credentials into the keychain",
		Long: "Move the keys of section [PROFILE] of the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,\n" +
			"default ~/.aws/credentials) into the keychain, then remove that section from the file. Every other\n" +
			"byte of the file stays as it was (comments and other sections included); the file is replaced\n" +
			"atomically. A section that appears twice, holds a session token or settings other than the keys,\n" +
			"or that SDKs read differently is refused, and the file left as it was. A pipe is read once and\n" +
			"nothing is removed: AWS_SHARED_CREDENTIALS_FILE=<(pass show aws) brokerd keys import dev.\n" +
			"Other keys already stored for the profile are replaced only with --replace.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := keychain.ValidProfile(name); err != nil {
				return err
			}
			path, err := credfile.Path()
			if err != nil {
				return err
			}
			var stored keychain.Keys
			var replaced string
			store := func(k credfile.Keys) error {
				stored = keychain.Keys{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
				if err := checkKeyID(stored.AccessKeyID); err != nil {
					return err
				}
				old, err := e.storedKeys(cmd.Context(), name)
				switch {
				case err != nil:
					return err
				case old != nil && *old != stored && !replace:
					return keysExist(name, *old)
				case old != nil && old.AccessKeyID != stored.AccessKeyID:
					replaced = old.AccessKeyID
				}
				return e.keys.AddKeys(cmd.Context(), name, stored)
			}
			pipe, err := openCredentials(path)
			if err != nil {
				return err
			}
			if pipe != nil {
				err = importPipe(pipe, path, name, store)
				pipe.Close()
			} else {
				err = credfile.Import(path, name, store)
			}
			if err != nil {
				return err
			}
			if pipe != nil {
				fmt.Fprintf(e.stdout, "stored keys %s of profile %s from %s in the keychain (a pipe: no file holds them to remove them from)\n", wire.Mask(stored.AccessKeyID), name, path)
			} else {
				fmt.Fprintf(e.stdout, "moved keys %s of profile %s into the keychain and removed [%s] from %s\n", wire.Mask(stored.AccessKeyID), name, name, path)
			}
			if replaced != "" {
				fmt.Fprintf(e.stderr, "warning: they replace the keys %s the keychain held for profile %s\n", wire.Mask(replaced), name)
			}
			e.tellDaemon(cmd.Context(), control.KeysChange{Profile: name})
			return nil
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "replace the keys the keychain holds for the profile (their secret is lost)")
	return cmd
}

// maxCredentialsFile bounds what keys import reads: no credentials file
// comes near it, and a runaway writer to a pipe would otherwise fill memory.
const maxCredentialsFile = 16 << 20

// openCredentials checks the credentials file at path before keys import
// reads it. A pipe (process substitution, AWS_SHARED_CREDENTIALS_FILE=<(pass
// show aws), or /dev/stdin from one) is returned open, to be read once:
// there is no file to remove the keys from. A regular file (nil) is left
// to credfile.Import, as is a path that cannot be opened, whose error it
// words. A device (/dev/zero, which never ends), a socket and a file over
// maxCredentialsFile are refused. Opening does not wait for a writer, so a
// named pipe nothing writes to gives nothing at once rather than hanging.
func openCredentials(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read credentials file: %w", err)
	}
	switch m := fi.Mode(); {
	case m&fs.ModeNamedPipe != 0:
		return f, nil
	case m.IsRegular() && fi.Size() > maxCredentialsFile:
		f.Close()
		return nil, fmt.Errorf("%s is %d MiB, over the %d MiB a credentials file may be: is AWS_SHARED_CREDENTIALS_FILE the file you meant?", path, fi.Size()>>20, maxCredentialsFile>>20)
	case m.IsRegular(), m.IsDir():
		f.Close()
		return nil, nil // credfile.Import says what is wrong with a directory
	default:
		f.Close()
		return nil, fmt.Errorf("%s is not a credentials file but %s: set AWS_SHARED_CREDENTIALS_FILE to a file, or to <(COMMAND) for what a command prints", path, fileKind(m))
	}
}

// fileKind names a mode that is neither a regular file's nor a pipe's.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0, m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a " + m.Type().String() + " file"
}

// importPipe reads the credentials that pipe (at path) carries, up to
// maxCredentialsFile, and hands the keys of section [profile] to store, as
// credfile.Import does with a file, refusing what it refuses.
func importPipe(pipe io.Reader, path, profile string, store func(credfile.Keys) error) error {
	text, err := io.ReadAll(io.LimitReader(pipe, maxCredentialsFile+1))
	if err != nil {
		return fmt.Errorf("read credentials from %s: %w", path, err)
	}
	switch {
	case len(text) > maxCredentialsFile:
		return fmt.Errorf("%s (a pipe) gave more than the %d MiB a credentials file may be", path, maxCredentialsFile>>20)
	case len(text) == 0:
		return fmt.Errorf("%s (a pipe) gave nothing: nothing writes to it, or what does printed nothing", path)
	}
	keys, _, err := credfile.Take(text, path, profile) // refuses what a file's import refuses
	if err != nil {
		return err
	}
	if err := store(keys); err != nil {
		return fmt.Errorf("store the keys of profile %s: %w", profile, err)
	}
	return nil
}

func (e *env) keysRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate PROFILE",
		Short: "Replace a profile's access key with a new one, never leaving the keychain without a working key",
		Long: "Create a new access key for the IAM user whose key profile PROFILE holds, store it, check that STS\n" +
			"takes it, then delete the old key. A failure before the old key is deleted puts the old key back.\n" +
			"IAM is called with the profile's MFA session when one is open (`brokerd login`), as accounts that\n" +
			"require MFA for IAM need, else with the key itself. AWS_ENDPOINT_URL_IAM and AWS_ENDPOINT_URL_STS\n" +
			"are honoured.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.rotateKeys(cmd.Context(), args[0])
		},
	}
}

func (e *env) rotateKeys(ctx context.Context, name string) error {
	if err := keychain.ValidProfile(name); err != nil {
		return err
	}
	old, err := e.keys.Keys(ctx, name)
	if errors.Is(err, keychain.ErrNotFound) {
		return fmt.Errorf("profile %q has no keys in the keychain to rotate (see `brokerd keys list`)", name)
	}
	if err != nil {
		return err
	}
	// The region only picks STS's regional endpoint; IAM is global. The
	// shared files are left out: the CLI does not read the AWS config.
	cfg, err := sdkenv.Load(ctx, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	if err != nil {
		return fmt.Errorf("set up the IAM and STS clients: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
		if dir, err := stateDir(); err == nil {
			if res, err := control.NewClient(dir).Resolve(ctx, name); err == nil && res.Region != "" {
				cfg.Region = res.Region
			}
		}
	}
	req := rotate.Request{Profile: name, Old: old}
	if sess, err := e.keys.Session(ctx, name); err == nil && time.Until(sess.Expires) > 5*time.Minute {
		// An MFA session of the old key signs every IAM call, the
		// deletion of the old key included: that key still works then.
		mfa := credentials.NewStaticCredentialsProvider(sess.AccessKeyID, sess.SecretAccessKey, sess.SessionToken)
		req.Signer = mfa
		req.NewSigner = func(keychain.Keys) aws.CredentialsProvider { return mfa }
		fmt.Fprintf(e.stderr, "signing the IAM calls with the MFA session of profile %s\n", name)
	}
	iamClient, err := iamkeys.New(cfg)
	if err != nil {
		return err
	}
	r := rotate.New(iamClient, sts.NewFromConfig(cfg), rotate.StoreFunc(e.keys.AddKeys), rotate.Config{})
	res, err := r.Rotate(ctx, req)
	var oldKey *rotate.OldKeyError
	if err != nil && !errors.As(err, &oldKey) {
		if strings.Contains(err.Error(), "AccessDenied") && req.Signer == nil {
			return fmt.Errorf("%w: if the account requires MFA for IAM calls, open an MFA session first with `brokerd login %s`", err, name)
		}
		return err
	}
	e.tellDaemon(ctx, control.KeysChange{Profile: name})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rotated the access key of IAM user %s for profile %s: %s is stored and works; %s is deleted\n",
		res.User, name, wire.Mask(res.NewKeyID), wire.Mask(res.OldKeyID))
	return nil
}

// checkKeyID reports why id is not the access key id of a long-term key,
// in keyid's words, which name the actual problem (an ASIA… id is a
// temporary key, not a key of the wrong length). It takes any id of the
// shape the keychain stores, AKIA and 16 upper-case letters or digits:
// keyid also refuses 0, 1, 8 and 9, which AWS never uses but emulators
// such as moto and LocalStack do.
func checkKeyID(id string) error {
	if len(id) == 20 && strings.HasPrefix(id, "AKIA") &&
		strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == "" {
		return nil
	}
	return keyid.Check(id)
}

// storedKeys returns the keys the keychain holds for profile, nil when it
// holds none or an item that is not brokerd's (which keys add replaces).
func (e *env) storedKeys(ctx context.Context, profile string) (*keychain.Keys, error) {
	k, err := e.keys.Keys(ctx, profile)
	switch {
	case errors.Is(err, keychain.ErrNotFound), errors.Is(err, keychain.ErrFormat):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &k, nil
}

// keysExist is the refusal to replace the keys old of profile.
func keysExist(profile string, old keychain.Keys) error {
	return fmt.Errorf("profile %s has keys %s in the keychain already: add --replace to replace them (brokerd keeps no other copy of their secret), or run `brokerd keys rotate %[1]s` to make a new key in IAM",
		profile, wire.Mask(old.AccessKeyID))
}

// readKeys reads a key pair from the environment, the terminal or stdin,
// checking the key id, with checkKeyID and then with check, before the
// secret is read.
func (e *env) readKeys(fromEnv bool, check func(id string) error) (keychain.Keys, error) {
	if fromEnv {
		k := keychain.Keys{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
		if k.AccessKeyID == "" || k.SecretAccessKey == "" {
			return keychain.Keys{}, errors.New("--from-env needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set")
		}
		if err := checkKeyID(k.AccessKeyID); err != nil {
			return keychain.Keys{}, fmt.Errorf("AWS_ACCESS_KEY_ID: %w", err)
		}
		if err := check(k.AccessKeyID); err != nil {
			return keychain.Keys{}, err
		}
		return k, k.Validate()
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Access key id: ")
		id, err := bufio.NewReader(f).ReadString('\n')
		if err != nil {
			return keychain.Keys{}, fmt.Errorf("read access key id: %w", err)
		}
		id = strings.TrimSpace(id)
		if err := checkKeyID(id); err != nil {
			return keychain.Keys{}, err
		}
		if err := check(id); err != nil {
			return keychain.Keys{}, err
		}
		fmt.Fprint(e.stderr, "Secret access key (not shown): ")
		secret, err := readHidden(f)
		fmt.Fprintln(e.stderr)
		if err != nil {
			return keychain.Keys{}, fmt.Errorf("read secret access key: %w", err)
		}
		k := keychain.Keys{AccessKeyID: id, SecretAccessKey: strings.TrimSpace(string(secret))}
		return k, k.Validate()
	}
	sc := bufio.NewScanner(e.stdin)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
		if len(lines) == 1 {
			if err := checkKeyID(lines[0]); err != nil {
				return keychain.Keys{}, err
			}
			if err := check(lines[0]); err != nil {
				return keychain.Keys{}, err
			}
		}
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
