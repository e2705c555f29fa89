package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/brokerd/brokerd/control"
)

// ssoLogin signs in to the IAM Identity Center session of name: the daemon
// starts the device authorization and polls for its token; this prints
// where to approve it, opens the browser when asked and a desktop is
// there, and waits until the daemon has the token.
func (e *env) ssoLogin(ctx context.Context, client *control.Client, name string, browser bool) error {
	l, err := client.SSOLogin(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Sign in to IAM Identity Center session %s (%s):\n  open %s\n  and check that it shows the code %s (valid until %s)\n",
		l.Session, l.StartURL, l.VerificationURIComplete, l.UserCode, l.Expires.Local().Format(time.TimeOnly))
	if browser && openBrowser(l.VerificationURIComplete) {
		fmt.Fprintln(e.stdout, "(opened in your browser)")
	}
	fmt.Fprintln(e.stdout, "Waiting for you to approve the sign-in…")
	s, err := client.SSOWait(ctx, l.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "signed in to IAM Identity Center session %s", s.Name)
	if len(s.Profiles) > 0 {
		fmt.Fprintf(e.stdout, " for profiles %s", strings.Join(s.Profiles, ", "))
	}
	switch {
	case s.Expires == nil:
		fmt.Fprintln(e.stdout)
	case s.Refreshable:
		fmt.Fprintf(e.stdout, "; brokerd refreshes its token (now until %s) until the session ends\n", s.Expires.Local().Format(time.DateTime))
	default:
		fmt.Fprintf(e.stdout, "; its token lasts until %s, then sign in again\n", s.Expires.Local().Format(time.DateTime))
	}
	return nil
}
