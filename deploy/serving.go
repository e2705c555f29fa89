package deploy

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// Querier runs a command for what it prints on standard output.
type Querier interface {
	// Output runs argv and returns its standard output; its error is a
	// *CommandError when argv ran and failed.
	Output(ctx context.Context, argv []string) ([]byte, error)
}

var _ Querier = ExecRunner{}

// Output runs argv and returns its standard output.
func (ExecRunner) Output(ctx context.Context, argv []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &CommandError{Argv: argv, Stderr: oneLine(stderr.Bytes()), Err: err}
	}
	return stdout.Bytes(), nil
}

// Serving is what already serves where an install would: from its state
// directory, or on its listen address.
type Serving struct {
	// ServicePID is the installed service's main process (systemd's
	// MainPID, launchd's pid); 0 when it does not run.
	ServicePID int
	// Endpoint is what the state directory publishes, as the daemon that
	// serves from it writes it; zero when it publishes nothing.
	Endpoint state.Endpoint
	// Live says that Endpoint.PID is a live process of this user.
	Live bool
	// Answers says that a daemon answers on the state directory's control
	// socket, as one does from the moment it holds the directory's lock
	// and its address until it stops.
	Answers bool
	// AddrInUse says that the install's listen address cannot be bound,
	// and AddrInUse6 that [::1] at its port cannot, which the daemon
	// holds too (daemon.Listen).
	AddrInUse, AddrInUse6 bool
	// Other6 says that [::1] at the port is held by a process known not
	// to be the running service (one from before brokerd listened there
	// too, which its restart would not free); false when not known.
	Other6 bool
}

// CheckServing finds out, before anything is written, whether a brokerd
// that is not the installed service serves from o.StateDir, or another
// program holds the address the service would listen on (o's Install
// fields; in is what ReadInstalled read). Either would stop the service
// from starting, and the reason would show only in its log, so it refuses
// instead, in one line that says what to do. The installed service itself
// running is fine: install restarts it. q asks the service manager for the
// service's main process.
func CheckServing(ctx context.Context, o Options, in Installed, q Querier) error {
	if err := o.check(); err != nil {
		return err
	}
	s, err := Survey(ctx, o, q)
	if err != nil {
		return err
	}
	return s.Refusal(o, in)
}

// Survey finds what serves where an install with o would.
func Survey(ctx context.Context, o Options, q Querier) (Serving, error) {
	var s Serving
	addr, err := o.listenAddr()
	if err != nil {
		return s, err
	}
	if s.ServicePID, err = servicePID(ctx, o, q); err != nil {
		return s, err
	}
	dir := state.Dir{Path: o.StateDir} // read only: state.Open would create it
	if ep, err := dir.Endpoint(); err == nil {
		s.Endpoint = ep
		s.Live = alive(ep.PID)
	}
	if c, err := net.DialTimeout("unix", dir.Join(state.SocketFile), time.Second); err == nil {
		c.Close()
		s.Answers = true
	}
	s.AddrInUse = inUse(addr)
	_, port, _ := net.SplitHostPort(addr)
	s.AddrInUse6 = inUse(net.JoinHostPort("::1", port))
	if s.AddrInUse6 && s.ServicePID > 0 && o.GOOS == "linux" {
		p, _ := strconv.Atoi(port)
		s.Other6 = heldElsewhere6(s.ServicePID, p)
	}
	return s, nil
}

// inUse says whether another socket holds addr.
func inUse(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	ln.Close()
	return false
}

// Refusal is why an install with o cannot start its service while s
// serves, with what to do, on one line; nil when nothing stands in its
// way. in is the service installed now, if any.
func (s Serving) Refusal(o Options, in Installed) error {
	addr, err := o.listenAddr()
	if err != nil {
		return err
	}
	again := "`" + o.Command("install") + "`"
	// The daemon that answers from the state directory has published its
	// pid (a pid published but not alive, or not answering, is a daemon
	// that crashed, whose files stay).
	other := s.Answers && s.Live && s.Endpoint.PID > 0 && s.Endpoint.PID != s.ServicePID
	switch {
	case other:
		return fmt.Errorf("brokerd pid %d (not the service) already serves %s: stop it (Ctrl-C in its terminal, or kill %d), then run %s again",
			s.Endpoint.PID, endpointAddr(s.Endpoint), s.Endpoint.PID, again)
	case s.Answers && s.ServicePID == 0:
		return fmt.Errorf("a brokerd that is not the service already serves from %s (`brokerd status` shows its pid): stop it, then run %s again",
			o.StateDir, again)
	case (s.AddrInUse || s.AddrInUse6) && !s.serviceHolds(addr, in), s.Other6:
		// The running service holding the address is fine: its restart
		// frees it. Another program on [::1] beside it is not.
		if !s.AddrInUse || s.serviceHolds(addr, in) {
			_, port, _ := net.SplitHostPort(addr)
			addr = "[::1]:" + port // which clients naming localhost may reach
		}
		return fmt.Errorf("%s, where the service would listen, is in use by another program: stop that program and run %s again, or install with another port (--listen 127.0.0.1:PORT)",
			addr, again)
	}
	return nil
}

// serviceHolds says whether the address in use is the running service's,
// which its restart frees.
func (s Serving) serviceHolds(addr string, in Installed) bool {
	if s.ServicePID == 0 {
		return false
	}
	if s.Live && s.Endpoint.PID == s.ServicePID && endpointAddr(s.Endpoint) == addr {
		return true
	}
	if !in.Present {
		return false
	}
	// The installed files name the address unless it is the default
	// (launchd's plist has no --listen then).
	installed, err := wire.CheckListen(cmp.Or(in.Listen, wire.DefaultListen))
	return err == nil && installed == addr
}

// endpointAddr is the host:port of e's URL, or the URL when it has none.
func endpointAddr(e state.Endpoint) string {
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return e.URL
}

// alive says whether pid is a live process of this user.
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// launchdPID is the pid line of `launchctl print` for a running job.
var launchdPID = regexp.MustCompile(`(?m)^\s*pid = ([0-9]+)\s*$`)

// servicePID asks the service manager for the installed service's main
// process; 0 when it does not run or is not installed.
func servicePID(ctx context.Context, o Options, q Querier) (int, error) {
	if o.GOOS == "darwin" {
		// print fails when the job is not loaded: nothing runs then.
		out, err := q.Output(ctx, []string{"launchctl", "print", o.launchdDomain() + "/" + Label})
		if err != nil {
			return 0, nil
		}
		if m := launchdPID.FindSubmatch(out); m != nil {
			return strconv.Atoi(string(m[1]))
		}
		return 0, nil
	}
	// show succeeds, with MainPID=0, for a unit that is not loaded.
	out, err := q.Output(ctx, []string{"systemctl", "--user", "show", "--property=MainPID", Unit})
	if err != nil {
		return 0, fmt.Errorf("find out whether %s runs: %w", Unit, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "MainPID="); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("find out whether %s runs: MainPID %q is not a number", Unit, v)
			}
			return pid, nil
		}
	}
	return 0, fmt.Errorf("find out whether %s runs: systemctl --user show printed no MainPID", Unit)
}
