package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/conns"
	"github.com/brokerd/brokerd/relay"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) relayCmd() *cobra.Command {
	var socket, upstream, listen string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Forward containers' credentials requests to the daemon (runs in the relay container that brokerd docker setup starts)",
		Long: "Serve the credentials paths at the relay's link-local address on brokerd's Docker network and forward\n" +
			"every request, unchanged, to the daemon: through its relay socket (Linux) or its loopback port via\n" +
			"host.docker.internal (Docker Desktop). brokerd docker setup runs it; there is no need to run it by hand.",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := relay.CheckListen(listen); err != nil {
				return err
			}
			log, err := newLogger("info")
			if err != nil {
				return err
			}
			defer log.Sync()
			h, err := relay.Handler(relay.Config{Socket: socket, Upstream: upstream, Log: log})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (the relay runs in its container, on brokerd's Docker network: brokerd docker setup)", listen, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("relay serving", zap.String("listen", listen), zap.String("socket", socket), zap.String("upstream", upstream))
			return relay.Serve(ctx, ln.(*net.TCPListener), conns.Max(), h)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the daemon's relay socket")
	cmd.Flags().StringVar(&upstream, "upstream", "", "the daemon's loopback endpoint as the container reaches it (Docker Desktop), e.g. http://host.docker.internal:9911")
	cmd.Flags().StringVar(&listen, "listen", wire.RelayAddr+":80", "link-local address to serve on")
	cmd.AddCommand(&cobra.Command{
		Use:   "probe URL",
		Short: "Ask the relay for credentials without a token; succeeds when the daemon answers MissingToken through it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := relay.Probe(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "the relay at %s reaches brokerd\n", args[0])
			return nil
		},
	})
	return cmd
}
