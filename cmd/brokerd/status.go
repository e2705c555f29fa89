package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/deploy"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon and each profile's credentials: expiry, time left, last refresh, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := stateDir()
			if err != nil {
				return err
			}
			st, err := control.NewClient(dir).Status(cmd.Context())
			in := e.installed()
			if errors.Is(err, state.ErrNotRunning) && in.Present {
				return serviceStopped(in)
			}
			if err != nil {
				return err
			}
			if gone := binaryGone(in); gone != "" {
				fmt.Fprintf(e.stderr, "brokerd: warning: the service runs, but %s: it will not start again once it stops (a crash, a logout, a reboot): run %s\n", gone, reinstall(in))
			} else if replaced(st.PID) {
				restart := "restart it"
				if in.Present {
					restart = "run " + reinstall(in)
				}
				fmt.Fprintf(e.stderr, "brokerd: warning: the daemon (pid %d) runs a brokerd binary that was replaced (an upgrade) or deleted since it started: %s to run the brokerd there now\n", st.PID, restart)
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(e.stdout, st, time.Now())
			printContainers(e.stdout, st.Containers, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// serviceStopped says that the installed service in does not run, and how
// to start it: not with `brokerd serve`, as state.ErrNotRunning advises,
// which would hold the service's port.
func serviceStopped(in deploy.Installed) error {
	if in.StateDir != "" && !state.Sheltered(in.StateDir) {
		// statePath does not follow the service there: it may run.
		return fmt.Errorf("the installed service keeps its state in %s, where other users may write, so brokerd does not look for it there: run %s to move it", in.StateDir, reinstall(in))
	}
	return errors.New("brokerd is installed but not running: start it with " + startService(in))
}

// startService is how to start the installed service in: install again
// when the binary it runs is gone, which no start can cure.
func startService(in deploy.Installed) string {
	if in.StateDir != "" && !state.Sheltered(in.StateDir) {
		return reinstall(in) + " (the installed service keeps its state in " + in.StateDir + ", where other users may write)"
	}
	if gone := binaryGone(in); gone != "" {
		return reinstall(in) + " (" + gone + ")"
	}
	if runtime.GOOS == "darwin" {
		return "`launchctl kickstart gui/$(id -u)/" + deploy.Label + "`"
	}
	return "`systemctl --user start brokerd` (see why it stopped with `journalctl --user -u brokerd`)"
}

// binaryGone says that the executable the installed service in runs is
// gone (moved, deleted, or the old name of an upgrade that renamed it);
// "" when it is there or not known.
func binaryGone(in deploy.Installed) string {
	if in.Binary == "" {
		return ""
	}
	if _, err := os.Stat(in.Binary); !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return "the binary it runs, " + in.Binary + ", is gone"
}

// replaced says whether process pid runs an executable that was replaced
// or deleted since it started, as `go build -o` over it does (Linux, whose
// /proc/PID/exe then names it "(deleted)"; false where that cannot be told).
func replaced(pid int) bool {
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return err == nil && strings.HasSuffix(link, " (deleted)")
}

// reinstall is the install command, quoted, that sets up the service in
// again with this binary and the listen address and default profile it
// had.
func reinstall(in deploy.Installed) string {
	o := deploy.Options{DefaultProfile: in.DefaultProfile}
	if in.Listen != wire.DefaultListen {
		o.Listen = in.Listen
	}
	if bin, err := deploy.Binary(); err == nil {
		o.Binary, o.BinaryOnPath = bin, onPath(bin)
	}
	return "`" + o.Command("install") + "`"
}

func printStatus(w io.Writer, st control.Status, now time.Time) {
	fmt.Fprintf(w, "brokerd (pid %d) serving %s since %s; default profile %q\n\n",
		st.PID, st.Endpoint, st.Started.Local().Format(time.DateTime), st.DefaultProfile)
	if st.DefaultProfileMissing != "" {
		fmt.Fprintf(w, "default profile missing: %s (SDKs that name no profile are refused until then; "+
			"brokerd install --default-profile NAME, or serve's, changes the default)\n\n", st.DefaultProfileMissing)
	}
	if st.ConfigError != "" {
		fmt.Fprintf(w, "AWS config file not used: %s (every profile it names is refused until then; brokerd doctor checks it)\n\n", st.ConfigError)
	}
	printSSOSessions(w, st, now)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(st.Sessions) > 0 {
		fmt.Fprintln(tw, "MFA SESSION\tDEVICE\tEXPIRES\tLEFT")
		for _, s := range st.Sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Profile, s.MFASerial, s.Expires.Local().Format(time.DateTime), sessionLeft(s, now))
		}
		tw.Flush()
		next := st.Sessions[0]
		for _, s := range st.Sessions {
			if s.LoginDue().Before(next.LoginDue()) {
				next = s
			}
		}
		if due := next.LoginDue(); sessionUsed(next, now) {
			fmt.Fprintf(w, "next login due: %s (in %s): brokerd login %s\n\n", due.Local().Format(time.DateTime), roundDuration(due.Sub(now)), next.Profile)
		} else {
			fmt.Fprintf(w, "login due now: brokerd login %s\n\n", next.Profile)
		}
	}
	if len(st.Profiles) == 0 {
		if st.ConfigError == "" { // else there may be profiles, unread
			fmt.Fprintln(w, "no profiles yet: add keys with `brokerd keys add PROFILE` and roles to ~/.aws/config")
		}
		return
	}
	fmt.Fprintln(tw, "PROFILE\tKIND\tROLE\tEXPIRES\tLEFT\tLAST REFRESH\tLAST ERROR")
	for _, p := range st.Profiles {
		expires, left, last := "-", "-", "-"
		if p.Expires != nil {
			expires = p.Expires.Local().Format(time.DateTime)
			left = roundDuration(p.Expires.Sub(now))
		}
		if p.LastRefresh != nil {
			last = roundDuration(now.Sub(*p.LastRefresh)) + " ago"
		}
		role := p.RoleARN
		if role == "" {
			role = "-"
		}
		errText := p.LastError
		if errText == "" {
			errText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, role, expires, left, last, errText)
	}
	tw.Flush()
}

// sessionLeft shows the time left of MFA session s, or "expired" once the
// daemon no longer uses it.
func sessionLeft(s control.Session, now time.Time) string {
	if !sessionUsed(s, now) {
		return "expired"
	}
	return roundDuration(s.Expires.Sub(now))
}

// sessionUsed reports whether the daemon still uses MFA session s at now:
// until the time it said (control.Session.LoginDue), a little before the
// session ends, when the next login is due.
func sessionUsed(s control.Session, now time.Time) bool {
	return now.Before(s.LoginDue())
}

// roundDuration shows d to the minute, or "expired".
func roundDuration(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
