package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	brokerd "github.com/brokerd/brokerd/daemon"
)

func (e *env) serveCmd() *cobra.Command {
	var listen, defaultProfile, level string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon in the foreground (what launchd and systemd run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			defer log.Sync()
			dir, err := stateDir()
			if err != nil {
				return err
			}
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
			return brokerd.Run(cmd.Context(), brokerd.Config{
				Listen:         listen,
				DefaultProfile: defaultProfile,
				State:          dir,
				Keys:           e.keys,
				Log:            log,
				Reload:         reload,
				Ready:          func() { daemon.SdNotify(false, daemon.SdNotifyReady) },
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", brokerd.DefaultListen, "loopback address to serve on (port 0 picks a free one)")
	cmd.Flags().StringVar(&defaultProfile, "default-profile", "default", "profile served at /v1/credentials")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
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
