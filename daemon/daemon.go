// Package daemon provides brokerd's long-running service: it wires the
// keychain, STS broker, cache and HTTP endpoints together, publishes the
// endpoint in the state directory and serves until its context ends. It
// owns every goroutine it starts and returns only when all have ended.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/conns"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/creds"
	"github.com/brokerd/brokerd/httpsrv"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/sso"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/trim"
	"github.com/brokerd/brokerd/wire"
)

// Keychain is the daemon's view of the keychain; *keychain.Store is one.
type Keychain interface {
	broker.Keys
	broker.Sessions
	Profiles(ctx context.Context) ([]string, error)
}

var _ Keychain = (*keychain.Store)(nil)

// Config configures the daemon.
type Config struct {
	Listen         string // loopback host:port; port 0 picks one
	DefaultProfile string // served at /v1/credentials; may be empty
	State          state.Dir
	Keys           Keychain
	Log            *zap.Logger
	// ConfigPath is the AWS config file; empty means where the SDKs look.
	ConfigPath string
	// Clock tells the time and arms every timer; nil means the real clock.
	Clock clockwork.Clock
	// Ready is called with the endpoint once it serves; nil means nothing.
	Ready func(state.Endpoint)
	// Reload receives a value for each request to re-read the config file
	// (SIGHUP); nil means none.
	Reload <-chan struct{}
	// AuditDir is where the audit log is written; empty means none.
	AuditDir string
	// LoopbackRelay serves container tokens on the loopback endpoint to
	// requests whose Host is the relay's: Docker Desktop's relay reaches
	// the daemon through host.docker.internal, which arrives on loopback.
	LoopbackRelay bool
	// SSOTokens keeps the tokens of IAM Identity Center sessions (the
	// keychain's keychain.Store.SSO()); nil keeps them in memory, so that
	// every start needs new sign-ins.
	SSOTokens sso.Store
	// FederationURL is the AWS sign-in federation endpoint that console
	// URLs use; empty means the one of the region's partition.
	FederationURL string
	// TrimGap is the least time between two drops of the executable's
	// resident pages after start-up and fetches (trim.Idle); 0 never.
	TrimGap time.Duration
}

// drain is how long a stopping daemon waits for requests in flight.
const drain = 5 * time.Second

// Run serves until ctx ends, then drains requests for up to 5 s and waits
// for every goroutine it started.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	lock, err := cfg.State.Lock()
	if err != nil {
		return err
	}
	defer lock.Close()
	tcp, tcp6, err := Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer tcp.Close()
	// [::1] takes a quarter of the connections: only clients whose URL
	// names localhost use it.
	max4, max6 := conns.Max(), 0
	if tcp6 != nil {
		defer tcp6.Close()
		max4, max6 = max4-max4/4, max4/4
	}
	ln := conns.Limit(tcp, max4)
	var ln6 *conns.Listener // nil without IPv6
	if tcp6 != nil {
		ln6 = conns.Limit(tcp6, max6)
	}
	sock, err := listenControl(cfg.State)
	if err != nil {
		return err
	}
	defer sock.Close()
	token, err := cfg.State.NewToken()
	if err != nil {
		return err
	}
	x, err := openExtras(cfg, log)
	if err != nil {
		return err
	}
	defer x.close(log)
	tokens := cfg.SSOTokens
	if tokens == nil {
		tokens = &memTokens{}
	}
	ssoClient := sso.New(tokens, log, sso.Config{Clock: cfg.Clock})
	served := false // the last line, "stopped", once all below is done
	defer func() {
		if served {
			log.Info("stopped")
		}
	}()
	defer func() {
		// A token refreshed while the keychain refused it is stored now,
		// or the next start needs a new sign-in.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ssoClient.StoreUnsaved(ctx); err != nil {
			log.Warn("sso tokens held only in memory were not stored: their sessions need new sign-ins", zap.Error(err))
		}
		ssoClient.Wait()
	}()
	b := broker.New(cfg.Keys, broker.Config{ConfigPath: cfg.ConfigPath, Log: log.Named("broker"), Sessions: cfg.Keys, Clock: cfg.Clock, SSO: ssoClient})
	defer b.Close()
	// A request waits for STS at most a second (Patience), as long as the
	// SDKs' own timeouts; the fetch goes on for the next request.
	fetch := cache.FetchFunc(b.Fetch)
	var idle *trim.Idle
	if cfg.TrimGap > 0 {
		idle = trim.NewIdle(cfg.Clock, cfg.TrimGap, log.Named("trim"))
		defer idle.Stop()
		fetch = func(ctx context.Context, name string) (creds.Credentials, error) {
			defer idle.Busy()
			return b.Fetch(ctx, name)
		}
	}
	c := cache.New(fetch, cache.Config{Log: log.Named("cache"), Clock: cfg.Clock, Epoch: b.ConfigEpoch, Patience: time.Second})
	defer c.Close()
	addr := ln.Addr().(*net.TCPAddr)
	endpoint := state.Endpoint{URL: "http://" + addr.String(), PID: os.Getpid()}
	svc := &service{cache: c, broker: b, keys: cfg.Keys, clock: cfg.Clock, log: log, started: cfg.Clock.Now(),
		endpoint: endpoint, defaultProfile: cfg.DefaultProfile,
		sso: ssoClient, logins: newSSOLogins(), federationURL: cfg.FederationURL}
	defer svc.logins.close()
	// What an edit of the config file is compared with (nil: any edit
	// drops every cached profile).
	svc.applied, _ = b.Profiles()
	// httpsrv.New: header, idle and size limits, no WriteTimeout.
	api := httpsrv.New(server.New(c, server.Config{
		Token:          token,
		Hosts:          []string{addr.String(), fmt.Sprintf("localhost:%d", addr.Port)},
		DefaultProfile: cfg.DefaultProfile,
		Log:            log.Named("server"),
		Clock:          cfg.Clock,
		Audit:          x.audit,
		Relay:          x.loopbackRelay(cfg, c, token, log),
	}))
	api.ConnState = conns.Track
	api.ErrorLog = zap.NewStdLog(log.Named("http"))
	x.wrap(api)
	// Containers reach the relay socket through brokerd's relay (docker
	// setup): the same credentials, for container tokens only.
	rel := httpsrv.New(server.NewRelay(c, server.RelayConfig{Tokens: x.tokens, MainToken: token, Log: log.Named("relay"),
		Clock: cfg.Clock, Audit: x.audit, ClientHeader: true}))
	rel.ErrorLog = zap.NewStdLog(log.Named("http"))
	ctrs := &containers{svc: svc, tokens: x.tokens, state: cfg.State, auditDir: cfg.AuditDir, log: log.Named("containers")}
	ctl := control.Server(controlAPI{svc, ctrs}, log.Named("control"))
	// Requests still waiting on STS or the keychain near the end of the
	// drain are cancelled, so that they are answered before it ends.
	requests, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	api.BaseContext = func(net.Listener) context.Context { return requests }
	ctl.BaseContext = api.BaseContext
	rel.BaseContext = api.BaseContext

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return serve(api, ln) })
	if ln6 != nil {
		g.Go(func() error { return serve(api, ln6) })
	}
	g.Go(func() error { return serve(ctl, sock) })
	if x.relay != nil {
		g.Go(func() error { return serve(rel, x.relay) })
	}
	g.Go(func() error { x.run(gctx); return nil })
	g.Go(func() error { c.Run(gctx); return nil })
	g.Go(func() error { svc.watchSessions(gctx); return nil })
	g.Go(func() error { svc.reloads(gctx, cfg.Reload); return nil })
	g.Go(func() error { svc.watchConfig(gctx, cfg.ConfigPath); return nil })
	g.Go(func() error { <-gctx.Done(); svc.logins.close(); return nil })
	g.Go(func() error {
		<-gctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		stragglers := cfg.Clock.AfterFunc(drain-time.Second, cancelRequests)
		defer stragglers.Stop()
		var sg errgroup.Group
		sg.Go(func() error { return api.Shutdown(shutdown) })
		sg.Go(func() error { return ctl.Shutdown(shutdown) })
		sg.Go(func() error { return rel.Shutdown(shutdown) })
		sg.Wait()
		return nil
	})
	if err := cfg.State.Publish(endpoint); err != nil {
		cancel()
		return errors.Join(err, g.Wait())
	}
	defer cfg.State.Unpublish()
	log.Info("serving", zap.String("endpoint", endpoint.URL), zap.String("state_dir", cfg.State.Path),
		zap.String("default_profile", cfg.DefaultProfile))
	if cfg.Ready != nil {
		cfg.Ready(endpoint)
	}
	if idle != nil {
		idle.Started()
	}
	err = g.Wait()
	x.close(log) // before the last line, "stopped"
	served = true
	return err
}

// serve serves srv on ln until it is shut down.
func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Listen listens on addr, which must be 127.0.0.1 with a port other than
// 80, and on [::1] at the same port (v6; nil where the machine has no
// IPv6): a client whose URL names localhost tries [::1] first where
// /etc/hosts lists it first, and another user's program holding that port
// would be sent the client's token and could give it credentials of its
// own.
func Listen(addr string) (v4, v6 *net.TCPListener, err error) {
	hostPort, err := wire.CheckListen(addr)
	if err != nil {
		return nil, nil, err
	}
	anyPort := strings.HasSuffix(hostPort, ":0")
	for try := 1; ; try++ {
		ln, err := net.Listen("tcp", hostPort)
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("address %s is in use: is brokerd already running (`brokerd status`)? Otherwise pick another port with --listen 127.0.0.1:PORT", addr)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		v4 = ln.(*net.TCPListener)
		port := v4.Addr().(*net.TCPAddr).Port
		v6, err = net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6loopback, Port: port})
		switch {
		case err == nil:
			return v4, v6, nil
		case errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT):
			return v4, nil, nil // no IPv6: no one can hold [::1]
		}
		v4.Close()
		if errors.Is(err, syscall.EADDRINUSE) && anyPort && try < 10 {
			continue // another free port
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("[::1]:%d is held by another program, which clients whose URL names localhost may reach and send their token: stop it, or pick another port with --listen 127.0.0.1:PORT", port)
		}
		return nil, nil, fmt.Errorf("listen on [::1]:%d, which brokerd serves too for clients whose URL names localhost: %w: pick another port with --listen 127.0.0.1:PORT", port, err)
	}
}

// listenControl listens on the control socket, replacing a stale one; the
// caller holds the state directory's lock.
func listenControl(dir state.Dir) (net.Listener, error) {
	return listenUnix(dir.Join(state.SocketFile), "control socket")
}

// maxSocketPath is the longest path a Unix socket can have: 107 bytes on
// Linux, 103 on macOS, its address's room but for the NUL that ends it.
var maxSocketPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// listenUnix listens on a Unix socket at path, mode 0600, replacing a stale
// one; what names it in errors.
func listenUnix(path, what string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("the %s's path %s is %d bytes, over the %d a Unix socket allows: set BROKERD_STATE_DIR to a shorter directory", what, path, len(path), maxSocketPath)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale %s: %w", what, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", what, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("make %s private: %w", what, err)
	}
	return ln, nil
}
