package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/keychain"
)

var mfaCode = regexp.MustCompile(`^[0-9]{6}$`)

func (e *env) loginCmd() *cobra.Command {
	var code string
	var duration time.Duration
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "login [PROFILE|SSO-SESSION]",
		Short: "Open the day's MFA session, or sign in to an IAM Identity Center session (default: the default profile's)",
		Long: "Open an MFA session (STS GetSessionToken with your MFA code) for a source profile, so that every role\n" +
			"that requires MFA is assumed without asking again until the session ends. The code comes from --code,\n" +
			"else from the profile's mfa_process command, else from the terminal (or one line of standard input).\n\n" +
			"For an [sso-session NAME] of ~/.aws/config, or a profile that uses one, sign in to IAM Identity Center\n" +
			"instead: brokerd prints a URL and a code (and opens the browser on a desktop), and waits until you approve\n" +
			"the sign-in. One sign-in serves every profile of the session; brokerd refreshes its token until it ends.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if duration < broker.MinSessionDuration || duration > broker.MaxSessionDuration {
				return fmt.Errorf("--duration %s is out of range: STS allows MFA sessions from 15m to 36h", duration)
			}
			dir, err := stateDir()
			if err != nil {
				return err
			}
			client := control.NewClient(dir)
			name := firstArg(args)
			if code == "" {
				needs, err := client.LoginNeeds(cmd.Context(), name)
				if err != nil {
					return unnamed(err, name, "login")
				}
				if needs.Kind == "sso" {
					if cmd.Flags().Changed("duration") {
						return errors.New("--duration is for MFA sessions: an IAM Identity Center session lasts as long as its identity provider allows")
					}
					return e.ssoLogin(cmd.Context(), client, name, !noBrowser)
				}
				if code, err = e.readCode(cmd.Context(), needs); err != nil {
					return err
				}
			} else if err := checkCode(code, "--code", "pass the code your MFA device shows now"); err != nil {
				return err
			}
			res, err := client.Login(cmd.Context(), control.Login{Profile: name, Code: code, DurationSeconds: int(duration / time.Second)})
			if err != nil {
				return unnamed(err, name, "login")
			}
			printLogin(e.stdout, res.Session, time.Now())
			if res.Warning != "" {
				fmt.Fprintf(e.stderr, "warning: %s\n", res.Warning)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "the 6-digit MFA code")
	cmd.Flags().DurationVar(&duration, "duration", 12*time.Hour, "session length, from 15m to 36h")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "for an IAM Identity Center sign-in, only print the URL and code")
	return cmd
}

func (e *env) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [PROFILE|SSO-SESSION|START-URL]",
		Short: "Close the MFA session of a source profile, or sign out of an IAM Identity Center session, and drop the credentials derived from it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := stateDir()
			if err != nil {
				return err
			}
			name := firstArg(args)
			if isStartURL(name) {
				return e.forgetStartURL(cmd.Context(), name)
			}
			client := control.NewClient(dir)
			// A session stays closable when a login could no longer be
			// made (mfa_serial or the keys removed since): only the kind
			// is needed, and Logout says whether the name exists.
			needs, needsErr := client.LoginNeeds(cmd.Context(), name)
			if needsErr != nil && !answered(needsErr) {
				return needsErr
			}
			// Whether there was an MFA session to close: the sessions
			// status lists (those in memory and the keychain's); when
			// status cannot say, one is taken to have been.
			open := func(string) bool { return true }
			if st, err := client.Status(cmd.Context()); err == nil {
				open = func(src string) bool {
					return slices.ContainsFunc(st.Sessions, func(s control.Session) bool { return s.Profile == src })
				}
			}
			src, err := client.Logout(cmd.Context(), name)
			var ce *control.Error
			if errors.As(err, &ce) && ce.Code == "ProfileNotFound" && name == "" {
				return unnamed(err, name, "logout")
			}
			if errors.As(err, &ce) && ce.Code == "ProfileNotFound" {
				return fmt.Errorf("%w (was %s a profile with sso_start_url and no sso_session, since removed? brokerd keeps its tokens under its start URL: "+
					"brokerd logout https://…/start removes them)", err, name)
			}
			if err != nil {
				return err
			}
			switch needs.Kind {
			case "sso":
				fmt.Fprintf(e.stdout, "signed out of IAM Identity Center session %s\n", src)
			case "mfa":
				if !open(src) {
					fmt.Fprintf(e.stdout, "profile %s had no MFA session open: nothing to close\n", src)
					break
				}
				fmt.Fprintf(e.stdout, "closed the MFA session of profile %s\n", src)
			default:
				// A profile without mfa_serial (LoginNeeds refused it as
				// such), else the tokens of an sso-session no longer in
				// the config file.
				if !isCode(needsErr, "ProfileNotFound") && !open(src) {
					fmt.Fprintf(e.stdout, "profile %s had no MFA session open: nothing to close\n", src)
					break
				}
				fmt.Fprintf(e.stdout, "removed the stored session %s\n", src)
			}
			return nil
		},
	}
}

// unnamed adds to the daemon's ProfileNotFound for its default profile,
// which a command given no profile name (name empty) takes, that the
// profile was not named, and how to name one; other errors pass as they are.
func unnamed(err error, name, command string) error {
	if name != "" || !isCode(err, "ProfileNotFound") {
		return err
	}
	return fmt.Errorf("%w; brokerd %s without a profile takes the daemon's default profile: name one, brokerd %s PROFILE", err, command, command)
}

// isStartURL tells whether a logout names a start URL: the key of the
// tokens of a legacy IAM Identity Center profile (sso_start_url on the
// profile, no sso_session).
func isStartURL(name string) bool {
	return strings.HasPrefix(name, "https://") || strings.HasPrefix(name, "http://")
}

// forgetStartURL removes the tokens kept under startURL from the keychain:
// those of a legacy profile removed from the config file, which the daemon
// no longer knows by name. The daemon reads them from the keychain at each
// use (a record it refreshed but could not store stays in its memory, for
// no profile now, until it stops). The portal is not asked to end the
// sign-in: its region went with the profile.
func (e *env) forgetStartURL(ctx context.Context, startURL string) error {
	tokens := e.keys.SSO()
	blob, err := tokens.Get(ctx, startURL)
	if err != nil {
		return err
	}
	if blob == nil {
		return fmt.Errorf("brokerd keeps no IAM Identity Center tokens for start URL %s (keychain item %s/%s)", startURL, keychain.SSOService, startURL)
	}
	if err := tokens.Delete(ctx, startURL); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed the IAM Identity Center tokens of start URL %s from the keychain; "+
		"to end the sign-in at once, sign out of the AWS access portal at %s\n", startURL, startURL)
	return nil
}

// printLogin says until when the MFA session s is open, and when the next
// login is due: when the daemon stops using it, a little before it ends.
func printLogin(w io.Writer, s control.Session, now time.Time) {
	fmt.Fprintf(w, "MFA session of profile %s open until %s (%s); next login due %s\n",
		s.Profile, s.Expires.Local().Format(time.DateTime), roundDuration(s.Expires.Sub(now)),
		s.LoginDue().Local().Format(time.DateTime))
}

// readCode gets an MFA code from the profile's mfa_process, the terminal,
// or a line of standard input. The caller asks the daemon first what the
// login needs, so that nobody types a code for a daemon that is not
// running and the prompt names the profile whose session opens.
func (e *env) readCode(ctx context.Context, needs control.LoginNeeds) (string, error) {
	if needs.MFAProcess != "" {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", needs.MFAProcess).Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(bytes.TrimSpace(exit.Stderr)) > 0 {
			first, _, _ := strings.Cut(strings.TrimSpace(string(exit.Stderr)), "\n")
			err = fmt.Errorf("%w: %s", err, first)
		}
		if err != nil {
			return "", fmt.Errorf("mfa_process of profile %s failed (run it yourself to see why, or pass --code): %w", needs.Profile, err)
		}
		code := strings.TrimSpace(string(out))
		return code, checkCode(code, "mfa_process of profile "+needs.Profile,
			"make it print the code alone, or pass --code")
	}
	terminal := false
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		terminal = true
		fmt.Fprintf(e.stderr, "MFA code for %s (%s): ", needs.Profile, needs.MFASerial)
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no MFA code: give it with --code, or set mfa_process in the profile")
	}
	code, from := strings.TrimSpace(line), "standard input"
	if terminal {
		from = "the terminal"
	}
	return code, checkCode(code, from, "type the code your MFA device shows now, or pass --code")
}

// checkCode refuses a code that is not 6 digits, saying where it came
// from, what came (its length, never the text: a pipe meant for another
// command may hold a secret) and fix, what to do.
func checkCode(code, from, fix string) error {
	if mfaCode.MatchString(code) {
		return nil
	}
	got := fmt.Sprintf("%d characters", utf8.RuneCountInString(code))
	switch n := strings.Count(code, "\n") + 1; {
	case code == "":
		got = "nothing"
	case n > 1:
		got = fmt.Sprintf("%d lines", n)
	case utf8.RuneCountInString(code) == 6:
		got = "6 characters that are not all digits"
	}
	return fmt.Errorf("the MFA code must be 6 digits, and %s gave %s: %s", from, got, fix)
}
