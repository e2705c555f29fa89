package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// Client calls a running daemon's control API.
type Client struct {
	dir    state.Dir
	socket string
	hc     *http.Client
}

// NewClient returns a client for the daemon serving from dir.
func NewClient(dir state.Dir) *Client {
	socket := dir.Join(state.SocketFile)
	return &Client{dir: dir, socket: socket, hc: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// Close closes the client's idle connection to the daemon.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Status asks the daemon for its status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	return st, c.call(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Names asks the daemon for the profile and sso-session names it knows;
// it does not read the keychain for them. A daemon older than this call
// answers a *Error with Status 404.
func (c *Client) Names(ctx context.Context) (Names, error) {
	var n Names
	return n, c.call(ctx, http.MethodGet, "/v1/names", nil, &n)
}

// Refresh asks the daemon to fetch new credentials for profile now.
func (c *Client) Refresh(ctx context.Context, profile string) error {
	return c.call(ctx, http.MethodPost, "/v1/refresh", named{profile}, nil)
}

// LoginNeeds asks the daemon what a login for profile needs.
func (c *Client) LoginNeeds(ctx context.Context, profile string) (LoginNeeds, error) {
	var needs LoginNeeds
	return needs, c.call(ctx, http.MethodPost, "/v1/login/needs", named{profile}, &needs)
}

// KeysChanged tells the daemon that the keys of a profile changed.
func (c *Client) KeysChanged(ctx context.Context, change KeysChange) error {
	return c.call(ctx, http.MethodPost, "/v1/keys", change, nil)
}

// Resolve asks the daemon which profile name (empty: its default) serves
// and its region.
func (c *Client) Resolve(ctx context.Context, name string) (Resolved, error) {
	var res Resolved
	return res, c.call(ctx, http.MethodPost, "/v1/resolve", named{name}, &res)
}

// Reload asks the daemon to re-read the config file.
func (c *Client) Reload(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/reload", nil, nil)
}

// Login asks the daemon to open an MFA session.
func (c *Client) Login(ctx context.Context, l Login) (LoginResult, error) {
	var res LoginResult
	return res, c.call(ctx, http.MethodPost, "/v1/login", l, &res)
}

// Logout asks the daemon to close the MFA session of profile's source; it
// returns the source profile.
func (c *Client) Logout(ctx context.Context, profile string) (string, error) {
	var res named
	err := c.call(ctx, http.MethodPost, "/v1/logout", named{profile}, &res)
	return res.Profile, err
}

// Error is an error the daemon answered with.
type Error struct {
	Status        int
	Code, Message string
}

func (e *Error) Error() string { return e.Message }

// ErrNotAnswering is the error of a daemon that took the request on its
// socket and did not answer in time: it runs, stopped or stuck.
var ErrNotAnswering = errors.New("brokerd does not answer")

// notAnswering says that the daemon took the request and did not answer in
// time, and what to do.
func (c *Client) notAnswering() error {
	who, resume := "the daemon", ""
	if ep, err := c.dir.Endpoint(); err == nil && ep.PID > 0 {
		who, resume = fmt.Sprintf("the daemon (pid %d)", ep.PID), fmt.Sprintf("; kill -CONT %d resumes it", ep.PID)
	}
	return fmt.Errorf("%w: %s took the request but gave no answer in time: it may be stopped (Ctrl-Z, kill -STOP%s) or stuck: "+
		"see its log (journalctl --user -u brokerd; on macOS ~/Library/Logs/brokerd/), and restart it if it stays so",
		ErrNotAnswering, who, resume)
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://brokerd"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return state.ErrNotRunning
		}
		var ne net.Error
		if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return c.notAnswering()
		}
		return fmt.Errorf("talk to brokerd at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body wire.Error
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Message == "" {
			return fmt.Errorf("brokerd answered %s", resp.Status)
		}
		return &Error{Status: resp.StatusCode, Code: body.Code, Message: body.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read brokerd's answer: %w", err)
	}
	return nil
}
