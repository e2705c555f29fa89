package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brokerd/brokerd/control"
)

// printSSOSessions shows the IAM Identity Center sessions of the status:
// whether each is signed in and when its token expires, never the token.
func printSSOSessions(w io.Writer, st control.Status, now time.Time) {
	if len(st.SSOSessions) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SSO SESSION\tSTART URL\tPROFILES\tTOKEN EXPIRES\tLEFT")
	for _, s := range st.SSOSessions {
		profiles := strings.Join(s.Profiles, ",")
		if profiles == "" {
			profiles = "-"
		}
		expires, left := "-", "not signed in: brokerd login "+s.Name
		switch {
		case s.Expires != nil:
			expires, left = s.Expires.Local().Format(time.DateTime), roundDuration(s.Expires.Sub(now))
			if s.Refreshable {
				left += " (refreshed until the session ends)"
			}
			if s.Error != "" { // signed in, with a warning: the token is held only in memory
				left += "; " + s.Error
			}
		case s.Error != "":
			left = s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.StartURL, profiles, expires, left)
	}
	tw.Flush()
	fmt.Fprintln(w)
}
