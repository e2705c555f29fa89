// Package daemon provides brokerd's long-running service: it wires the
// keychain, STS broker, cache and HTTP endpoints together, publishes the
// endpoint in the state directory and serves until its context ends.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/state"
)

// DefaultListen is the endpoint's address when none is given.
const DefaultListen = "127.0.0.1:9911"

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
	// Ready is called with the endpoint once it serves; nil means nothing.
	Ready func(state.Endpoint)
	// Reload receives a value for each request to re-read the config file
	// (SIGHUP); nil means none.
	Reload <-chan struct{}
}

// Run serves until ctx ends, then drains requests for up to 5 s.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	lock, err := cfg.State.Lock()
	if err != nil {
		return err
	}
	defer lock.Close()

	ln, err := Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	sock, err := listenControl(cfg.State)
	if err != nil {
		return err
	}
	defer sock.Close()
	token, err := cfg.State.NewToken()
	if err != nil {
		return err
	}

	b := broker.New(cfg.Keys, broker.Config{ConfigPath: cfg.ConfigPath, Log: log.Named("broker"), Sessions: cfg.Keys})
	c := cache.New(b.Fetch, cache.Config{
		Log: log.Named("cache"),
		Forget: func(err error) bool {
			var be *broker.Error
			return errors.As(err, &be) && be.Status == http.StatusNotFound
		},
		// STS unreachable or throttling, and the keychain locked or not
		// answering.
		Transient: func(err error) bool {
			var be *broker.Error
			return errors.As(err, &be) && be.Status == http.StatusServiceUnavailable
		},
	})
	addr := ln.Addr().(*net.TCPAddr)
	endpoint := state.Endpoint{URL: "http://" + addr.String(), PID: os.Getpid()}
	svc := &service{cache: c, broker: b, keys: cfg.Keys, started: time.Now(), endpoint: endpoint, defaultProfile: cfg.DefaultProfile}

	// ReadHeaderTimeout stops clients that never finish a request, and
	// IdleTimeout frees connections that clients keep idle. There is no
	// WriteTimeout: a response is under 1 KiB and never waits on the
	// client, and its deadline would cost every request a timer.
	api := &http.Server{
		Handler: server.New(c, server.Config{
			Token:          token,
			Hosts:          []string{addr.String(), fmt.Sprintf("localhost:%d", addr.Port)},
			DefaultProfile: cfg.DefaultProfile,
			Log:            log.Named("server"),
		}),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	ctl := &http.Server{Handler: control.Handler(svc, log.Named("control")), ReadHeaderTimeout: 5 * time.Second}
	// Requests still waiting on STS or the keychain near the end of the
	// drain are cancelled, so that they are answered before it ends.
	requests, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	api.BaseContext = func(net.Listener) context.Context { return requests }

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go c.Run(runCtx, 30*time.Second)
	go svc.watchSessions(runCtx, time.Minute)
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(ln) }()
	go func() { errc <- ctl.Serve(sock) }()

	if err := cfg.State.Publish(endpoint); err != nil {
		return err
	}
	defer cfg.State.Unpublish()
	log.Info("serving", zap.String("endpoint", endpoint.URL), zap.String("state_dir", cfg.State.Path),
		zap.String("default_profile", cfg.DefaultProfile))
	if cfg.Ready != nil {
		cfg.Ready(endpoint)
	}

loop:
	for {
		select {
		case <-cfg.Reload:
			// Apart from the loop: the keychain may take seconds, and a
			// SIGTERM must not wait for it.
			go func() {
				if err := svc.Reload(ctx); err != nil {
					log.Warn("config file not reloaded: fix it and send SIGHUP again", zap.Error(err))
				} else {
					log.Info("reloaded the config file")
				}
			}()
		case err = <-errc:
			err = fmt.Errorf("serve: %w", err)
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	stragglers := time.AfterFunc(drain-time.Second, cancelRequests)
	defer stragglers.Stop()
	var wg sync.WaitGroup
	wg.Go(func() { api.Shutdown(shutdown) })
	wg.Go(func() { ctl.Shutdown(shutdown) })
	wg.Wait()
	log.Info("stopped")
	return err
}

// drain is how long a stopping daemon waits for requests in flight.
const drain = 5 * time.Second

// Listen listens on addr, which must be a loopback address.
func Listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: want 127.0.0.1:PORT", addr)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen address %q is not a loopback address: brokerd serves this machine only; use 127.0.0.1:PORT", addr)
	}
	if !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		return nil, fmt.Errorf("listen address %q: use 127.0.0.1:PORT, the one loopback address every AWS SDK accepts", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("address %s is in use: is brokerd already running (`brokerd status`)? Otherwise pick another port with --listen 127.0.0.1:PORT", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// listenControl listens on the control socket, replacing a stale one; the
// caller holds the state directory's lock.
func listenControl(dir state.Dir) (net.Listener, error) {
	path := dir.Join(state.SocketFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("make control socket private: %w", err)
	}
	return ln, nil
}
