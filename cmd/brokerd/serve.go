package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	brokerd "github.com/brokerd/brokerd/daemon"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) serveCmd() *cobra.Command {
	var listen, defaultProfile, level, auditDir string
	var relayOnLoopback bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon in the foreground (what launchd and systemd run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(level)
			if err != nil {
				return usageError{err, cmd}
			}
			defer log.Sync()
			dir, err := stateDir()
			if err != nil {
				return err
			}
			// status reports it, for brokerd audit run elsewhere.
			if auditDir != "" {
				if auditDir, err = filepath.Abs(auditDir); err != nil {
					return fmt.Errorf("--audit-dir: %w", err)
				}
			}
			// A fixed GOMAXPROCS stops the runtime from re-reading the
			// cgroup CPU limit every few seconds (scripts/idle: wakeups
			// of an idle daemon); a loopback daemon needs no more.
			runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
			// The daemon's live heap (about 1.1 MiB, most of it the
			// SDK's endpoint tables and schemas) would leave the default
			// GC goal of 4 MiB less room than a bare server's 0.4 MiB
			// heap has, so under load it would collect more often per
			// request. 130 raises the goal to 5.2 MiB. GC cycles per
			// 1,000 requests against bare's (wrk, pinned as scripts/load
			// runs it): keep-alive 0.60-0.62 against 0.64-0.66, a new
			// connection per request 0.99-1.00 against 0.95-0.97; 120
			// gave 1.09 against 0.97 there, and 150 cost 1 MiB more RSS
			// under load. GOGC in the environment wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(130)
			}
			// scripts/pgo profiles the daemon under load for the build's
			// profile-guided optimisation (cmd/brokerd/default.pgo).
			if path := os.Getenv("BROKERD_CPUPROFILE"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			// Only the daemon drains on SIGINT and SIGTERM; the other
			// commands end at once, in the middle of a prompt too.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			reload := make(chan struct{}, 1)
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}()
			return brokerd.Run(ctx, brokerd.Config{
				Listen:         listen,
				DefaultProfile: defaultProfile,
				State:          dir,
				Keys:           e.keys,
				Log:            log,
				Reload:         reload,
				SSOTokens:      e.keys.SSO(),
				FederationURL:  os.Getenv("BROKERD_FEDERATION_URL"), // tests point it at a fake
				AuditDir:       auditDir,
				LoopbackRelay:  relayOnLoopback,
				// What only start-up and fetches run need not stay resident
				// all day (scripts/idle: RSS of an idle daemon).
				TrimGap: 10 * time.Second,
				Ready: func(ep state.Endpoint) {
					daemon.SdNotify(false, daemon.SdNotifyReady)
					if runtime.GOOS == "darwin" && os.Getenv("BROKERD_LAUNCHD") == "1" {
						launchctlSetenv(log, ep, dir)
					}
				},
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", wire.DefaultListen, "loopback address to serve on (port 0 picks a free one)")
	cmd.Flags().StringVar(&defaultProfile, "default-profile", "default", "profile served at /v1/credentials")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&auditDir, "audit-dir", defaultAuditDir(), "directory of the audit log (0700, files 0600, rotated at 10 MB); empty writes none")
	cmd.Flags().BoolVar(&relayOnLoopback, "relay-on-loopback", runtime.GOOS == "darwin", "serve container tokens on the loopback port to brokerd's relay (Docker Desktop, whose containers cannot reach the relay socket)")
	return cmd
}

// newLogger logs to stderr, which launchd and journald collect.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil // the endpoint samples its issuance lines itself
	cfg.DisableStacktrace = true
	return cfg.Build()
}

// launchctlSetenv exports the endpoint to every program launchd starts
// from now on (GUI apps, IDEs), as environment.d does on Linux. It runs at
// each start, since launchd forgets the values at logout.
func launchctlSetenv(log *zap.Logger, ep state.Endpoint, dir state.Dir) {
	for _, kv := range [][2]string{
		{wire.VarURL, ep.CredentialsURL("")},
		{wire.VarTokenFile, dir.Join(state.TokenFile)},
	} {
		if out, err := exec.Command("launchctl", "setenv", kv[0], kv[1]).CombinedOutput(); err != nil {
			log.Warn("launchctl setenv failed", zap.String("variable", kv[0]), zap.Error(err), zap.ByteString("output", out))
		}
	}
	launchctlSetenvProfile(log, dir)
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("BROKERD_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("BROKERD_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
