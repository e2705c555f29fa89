// Package relay provides brokerd's relay: the server that containers on
// brokerd's Docker network reach at 169.254.170.2, which forwards their
// credentials requests, unchanged, to the daemon, and tells it which
// container address asked. It checks nothing itself: it forwards the
// credentials paths only, and the daemon judges the container token.
package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/conns"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/httpsrv"
	"github.com/brokerd/brokerd/wire"
)

// Config says where the daemon is.
type Config struct {
	// Socket is the daemon's relay socket (Linux: the state directory's
	// relay directory, mounted into the relay's container).
	Socket string
	// Upstream is the daemon's loopback endpoint as the container reaches
	// it, such as http://host.docker.internal:9911 (Docker Desktop), used
	// when Socket is empty; the daemon must serve the relay's Host there
	// (brokerd serve --relay-on-loopback).
	Upstream string
	// Log receives a line when the daemon cannot be reached (at most one a
	// second); nil logs nothing.
	Log *zap.Logger
	// HeaderTimeout is how long the daemon may take to answer a request
	// it accepted; 0 means 40 s, longer than a cold fetch with MFA or SSO
	// refreshes takes.
	HeaderTimeout time.Duration
}

// Handler returns the relay's handler.
func Handler(cfg Config) (http.Handler, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = 40 * time.Second
	}
	var target *url.URL
	transport := &http.Transport{
		Proxy:                 nil,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
	}
	switch {
	case cfg.Socket != "":
		target = &url.URL{Scheme: "http", Host: "brokerd"}
		socket := cfg.Socket
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
	case cfg.Upstream != "":
		if err := CheckUpstream(cfg.Upstream); err != nil {
			return nil, err
		}
		u, _ := url.Parse(cfg.Upstream)
		target = &url.URL{Scheme: "http", Host: u.Host}
	default:
		return nil, errors.New("name the daemon: --socket PATH (Linux) or --upstream http://host.docker.internal:PORT (Docker Desktop)")
	}
	var lastErr atomic.Int64
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			in, out := pr.In, pr.Out
			out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
			out.Host = in.Host // unchanged: the daemon checks it
			out.Header.Del(wire.HeaderRelayClient)
			if ip := clientIP(in.RemoteAddr); ip != "" {
				out.Header.Set(wire.HeaderRelayClient, ip)
			}
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				// The container gave up first (JS and Java SDKs wait 1 s,
				// a cold fetch may take longer): nobody reads an answer,
				// and the daemon was reached.
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			line, answer := unanswered(err, cfg.HeaderTimeout)
			if now := time.Now().Unix(); lastErr.Swap(now) != now {
				log.Warn(line, zap.Error(err))
			}
			httperr.Write(w, answer)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httperr.WithBody(w, r); err != nil {
			httperr.Write(w, err)
			return
		}
		if r.Host == "" { // HTTP/1.0 without one: the daemon would see the relay's own
			httperr.Write(w, httperr.Errorf(http.StatusForbidden, "InvalidHost", "no Host header: use http://%s/v1/credentials/PROFILE", wire.RelayAddr))
			return
		}
		if !credentialsPath(r.URL.Path) {
			httperr.Write(w, httperr.Errorf(http.StatusNotFound, "NotFound", "no such path %q: the relay serves /v1/credentials/PROFILE only", r.URL.Path))
			return
		}
		p.ServeHTTP(w, r)
	}), nil
}

// daemonLog is where the daemon's log is, for the relay's answers.
const daemonLog = "journalctl --user -u brokerd; on macOS ~/Library/Logs/brokerd"

// unanswered is the relay's log line for a request the daemon did not
// answer, err saying why, and the answer to the container: a daemon
// that nothing accepts for (its socket or port closed) is down; one whose
// socket's queue is full, or that took the request and did not answer
// within timeout, runs but is slow or stuck, and asking whether it runs
// would send its user looking in the wrong place.
func unanswered(err error, timeout time.Duration) (line string, answer error) {
	var op *net.OpError
	dial := errors.As(err, &op) && op.Op == "dial"
	var te interface{ Timeout() bool }
	switch {
	case dial && errors.Is(err, syscall.EAGAIN):
		return "brokerd does not answer", httperr.Errorf(http.StatusGatewayTimeout, "BrokerdNotAnswering",
			"brokerd's daemon runs but accepts no connection (its socket's queue is full): it is stuck or overloaded; "+
				"see brokerd status and the daemon's log (%s), and restart it if it stays so", daemonLog)
	case dial:
		return "cannot reach brokerd", httperr.Errorf(http.StatusServiceUnavailable, "BrokerdUnavailable",
			"brokerd's relay cannot connect to the daemon: is brokerd running on the host (brokerd status)? The relay reconnects by itself once it is")
	case errors.As(err, &te) && te.Timeout():
		return "brokerd does not answer", httperr.Errorf(http.StatusGatewayTimeout, "BrokerdNotAnswering",
			"brokerd's daemon took the request but did not answer within %v: it runs but is slow or stuck; "+
				"see brokerd status and the daemon's log (%s), and restart it if it stays so", timeout, daemonLog)
	}
	return "brokerd closed the connection without answering", httperr.Errorf(http.StatusServiceUnavailable, "BrokerdUnavailable",
		"brokerd's daemon closed the connection without answering: did it stop or restart? Try again; brokerd status says whether it runs")
}

// CheckUpstream reports why upstream cannot be the daemon's endpoint as
// the relay reaches it: it must be http://HOST:PORT.
func CheckUpstream(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme != "http" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("--upstream %q: want http://HOST:PORT, such as http://host.docker.internal:9911", upstream)
	}
	return nil
}

// credentialsPath reports whether path is /v1/credentials or below it.
func credentialsPath(path string) bool {
	rest, ok := strings.CutPrefix(path, wire.CredentialsPath)
	return ok && (rest == "" || rest[0] == '/')
}

func clientIP(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().String()
}

// CheckListen reports why addr may not be the relay's address: it must be
// a link-local (or loopback) IP and a port, so that a relay started by
// mistake on a host never serves its network.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("relay address %q: want IP:PORT, such as %s:80", addr, wire.RelayAddr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !(ip.IsLinkLocalUnicast() || ip.IsLoopback() || ip == netip.MustParseAddr("fd00:ec2::23")) {
		return fmt.Errorf("relay address %q is not link-local: the relay serves its Docker network only; use %s:80", addr, wire.RelayAddr)
	}
	return nil
}

// Serve serves h on ln until ctx ends, then drains requests for up to 5 s.
// It holds at most maxConns connections (conns.Max), closing the oldest
// idle one for a new one, so that a container that opens connections and
// keeps them cannot exhaust the relay's memory or file descriptors.
func Serve(ctx context.Context, ln *net.TCPListener, maxConns int, h http.Handler) error {
	l := conns.Limit(ln, maxConns)
	srv := httpsrv.New(h)
	srv.ConnState = conns.Track
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("relay: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	<-done
	return err
}

// Probe asks the relay at url for credentials without a token, as doctor
// and setup do from a container on the network: the daemon answers 401
// MissingToken through a relay that works. It returns what was answered.
func Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("no answer from the relay at %s: %w", url, err)
	}
	defer resp.Body.Close()
	var body [512]byte
	n, _ := resp.Body.Read(body[:])
	if resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(body[:n]), `"MissingToken"`) {
		return nil
	}
	return fmt.Errorf("the relay at %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body[:n])))
}
