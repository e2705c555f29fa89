package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

func (e *env) auditCmd() *cobra.Command {
	var since, at, profile, key, dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show which process or container got or was refused credentials, and when",
		Long: "Show the audit log: every credentials request the daemon answered, with the access key id served\n" +
			"(masked) and the local process (pid, executable, uid) or the container (token label, container id)\n" +
			"that made it. Requests alike from one client, over all its connections, are one line with a count.\n" +
			"To find who got the credentials that CloudTrail names, give their key id (brokerd audit --key ASIA…)\n" +
			"or the time of the call (brokerd audit --profile prod --at 14:02, or --at \"2026-12-01 14:02:00\").\n" +
			"The log is kept where the running daemon says (brokerd status --json: audit_dir), else in\n" +
			defaultAuditDirDoc + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f audit.Filter
			if since != "" {
				t, err := audit.ParseSince(since, time.Now())
				if err != nil {
					return err
				}
				f.Since = t
			}
			if at != "" {
				t, err := audit.ParseAt(at, time.Now())
				if err != nil {
					return err
				}
				f.At = t
			}
			f.Profile, f.KeyID = profile, key
			if dir == "" {
				dir = runningAuditDir(cmd)
			}
			if dir == "" {
				return errors.New("no audit log: the daemon was started without one (brokerd serve --audit-dir)")
			}
			events, err := audit.Read(dir, f)
			if err != nil && !errors.Is(err, audit.ErrBadLines) {
				return err
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "brokerd: some lines of the audit log in %s were skipped: %v\n", dir, err)
			}
			return audit.Format(e.stdout, events, asJSON)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "show events from then on: 30m, 2h, 7d, 2026-12-01, \"2026-12-01 19:54:12\" or 2026-12-01T18:54:12Z")
	cmd.Flags().StringVar(&at, "at", "", "show the issuances whose credentials were still valid then, served before it too: who may have made a call CloudTrail shows then (times as --since)")
	cmd.Flags().StringVar(&profile, "profile", "", "show the events of this profile only")
	cmd.Flags().StringVar(&key, "key", "", "show the events that served this access key id (as CloudTrail's accessKeyId, or masked: ASIA…WXYZ)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines")
	cmd.Flags().StringVar(&dir, "dir", "", "read the audit log in this directory")
	return cmd
}

// runningAuditDir is the audit directory of the running daemon, or the
// default one when none runs.
func runningAuditDir(cmd *cobra.Command) string {
	if sdir, err := stateDir(); err == nil {
		if st, err := control.NewClient(sdir).Status(cmd.Context()); err == nil {
			return st.AuditDir
		}
	}
	return defaultAuditDir()
}

const defaultAuditDirDoc = "$BROKERD_AUDIT_DIR, or ${XDG_STATE_HOME:-~/.local/state}/brokerd/audit (Linux), ~/Library/Application Support/brokerd/audit (macOS)"

// defaultAuditDir is where the daemon writes its audit log unless told:
// a directory that outlives logins and reboots, unlike the state
// directory on Linux.
func defaultAuditDir() string {
	if d := os.Getenv("BROKERD_AUDIT_DIR"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	if runtime.GOOS == "darwin" {
		if p, err := state.DirPath(); err == nil {
			return filepath.Join(p, "audit")
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "brokerd", "audit")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "brokerd", "audit")
	}
	return ""
}
