package deploy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/brokerd/brokerd/state"
)

// fakeQuerier answers each command (keyed by argv joined with spaces) with
// out, or fails it when it is in fail; a command in neither fails.
type fakeQuerier struct {
	out  map[string]string
	fail map[string]bool
}

var _ Querier = fakeQuerier{}

func (q fakeQuerier) Output(_ context.Context, argv []string) ([]byte, error) {
	key := strings.Join(argv, " ")
	if out, ok := q.out[key]; ok && !q.fail[key] {
		return []byte(out), nil
	}
	return nil, &CommandError{Argv: argv, Err: errors.New("exit status 1")}
}

const showMainPID = "systemctl --user show --property=MainPID brokerd.service"

// mainPID is a fake systemd whose brokerd.service runs as pid.
func mainPID(pid int) fakeQuerier {
	return fakeQuerier{out: map[string]string{showMainPID: fmt.Sprintf("MainPID=%d\n", pid)}}
}

// TestServing_Refusal checks what install decides from what serves: a
// brokerd other than the service, or another program on the port, is
// refused in one line that says what to do; the service itself is not.
func TestServing_Refusal(t *testing.T) {
	o := Options{GOOS: "linux", Binary: "/home/ana/.local/bin/brokerd", Home: "/home/ana", UID: 1000,
		StateDir: "/run/user/1000/brokerd", DefaultProfile: "prod", BinaryOnPath: true}
	listen := o
	listen.Listen = "localhost:9922"
	darwin := Options{GOOS: "darwin", Binary: "/Users/ana/go/bin/brokerd", Home: "/Users/ana", UID: 501,
		StateDir: "/Users/ana/Library/Application Support/brokerd"}
	ep := func(pid int, addr string) state.Endpoint { return state.Endpoint{URL: "http://" + addr, PID: pid} }
	installed := Installed{Present: true, Listen: "127.0.0.1:9911", DefaultProfile: "prod"}
	for _, tc := range []struct {
		name string
		o    Options
		in   Installed
		s    Serving
		want string // the error; empty: none
	}{
		{"nothing serves", o, Installed{}, Serving{}, ""},
		{"a crashed daemon's files", o, Installed{}, Serving{Endpoint: ep(1234, "127.0.0.1:9911")}, ""},
		// Its pid taken by another process since: never advise killing it.
		{"a crashed daemon's pid reused", o, Installed{}, Serving{Endpoint: ep(1234, "127.0.0.1:9911"), Live: true}, ""},
		{"the service itself", o, installed,
			Serving{ServicePID: 1234, Endpoint: ep(1234, "127.0.0.1:9911"), Live: true, Answers: true, AddrInUse: true}, ""},
		{"the service starting", o, installed, Serving{ServicePID: 1234, Answers: true, AddrInUse: true}, ""},
		{"the service, installed with another state directory", o, installed, Serving{ServicePID: 1234, AddrInUse: true}, ""},
		{"the service on macOS, default address", darwin, Installed{Present: true, DefaultProfile: "default"},
			Serving{ServicePID: 1234, AddrInUse: true}, ""},
		{"brokerd serve in a terminal", o, Installed{},
			Serving{Endpoint: ep(4321, "127.0.0.1:9911"), Live: true, Answers: true, AddrInUse: true},
			"brokerd pid 4321 (not the service) already serves 127.0.0.1:9911: stop it (Ctrl-C in its terminal, or kill 4321), then run `brokerd install --default-profile prod` again"},
		{"brokerd serve in a terminal, the service stopped", o, installed,
			Serving{Endpoint: ep(4321, "127.0.0.1:9911"), Live: true, Answers: true, AddrInUse: true},
			"brokerd pid 4321 (not the service) already serves 127.0.0.1:9911: stop it (Ctrl-C in its terminal, or kill 4321), then run `brokerd install --default-profile prod` again"},
		{"brokerd serve on another port, the service running", listen, installed,
			Serving{ServicePID: 1234, Endpoint: ep(4321, "127.0.0.1:9933"), Live: true, Answers: true},
			"brokerd pid 4321 (not the service) already serves 127.0.0.1:9933: stop it (Ctrl-C in its terminal, or kill 4321), then run `brokerd install --listen localhost:9922 --default-profile prod` again"},
		{"a brokerd that published no pid", o, Installed{}, Serving{Answers: true},
			"a brokerd that is not the service already serves from /run/user/1000/brokerd (`brokerd status` shows its pid): stop it, then run `brokerd install --default-profile prod` again"},
		{"another program on the port", o, Installed{}, Serving{AddrInUse: true},
			"127.0.0.1:9911, where the service would listen, is in use by another program: stop that program and run `brokerd install --default-profile prod` again, or install with another port (--listen 127.0.0.1:PORT)"},
		{"another program on the port, the service installed there but stopped", o, installed, Serving{AddrInUse: true},
			"127.0.0.1:9911, where the service would listen, is in use by another program: stop that program and run `brokerd install --default-profile prod` again, or install with another port (--listen 127.0.0.1:PORT)"},
		// A service from before brokerd listened on [::1] holds 127.0.0.1
		// only: its restart does not free [::1], where the new one listens.
		{"another program on [::1], the service on 127.0.0.1", o, installed,
			Serving{ServicePID: 1234, Endpoint: ep(1234, "127.0.0.1:9911"), Live: true, Answers: true, AddrInUse: true, AddrInUse6: true, Other6: true},
			"[::1]:9911, where the service would listen, is in use by another program: stop that program and run `brokerd install --default-profile prod` again, or install with another port (--listen 127.0.0.1:PORT)"},
		{"the service on 127.0.0.1 and [::1]", o, installed,
			Serving{ServicePID: 1234, Endpoint: ep(1234, "127.0.0.1:9911"), Live: true, Answers: true, AddrInUse: true, AddrInUse6: true}, ""},
		{"another program on the new port, the service on its old one", listen, installed,
			Serving{ServicePID: 1234, Endpoint: ep(1234, "127.0.0.1:9911"), Live: true, Answers: true, AddrInUse: true},
			"127.0.0.1:9922, where the service would listen, is in use by another program: stop that program and run `brokerd install --listen localhost:9922 --default-profile prod` again, or install with another port (--listen 127.0.0.1:PORT)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Refusal(tc.o, tc.in)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Refusal(%+v) = %q, want %q", tc.s, got, tc.want)
			}
		})
	}
}

// serveIn makes dir look as a daemon with pid serving on addr makes it:
// the endpoint published and the control socket answering, until the
// test ends.
func serveIn(t *testing.T, dir string, pid int, addr string) {
	t.Helper()
	d, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(state.Endpoint{URL: "http://" + addr, PID: pid}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", d.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestCheckServing finds, with a real state directory, control socket and
// port, what serves where an install would, and decides as Refusal does.
func TestCheckServing(t *testing.T) {
	// A port that is free, then one held as a program other than brokerd
	// holds it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().String()
	// A port held on [::1] only, where the daemon listens too; "" without
	// IPv6.
	var taken6 string
	if held6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		defer held6.Close()
		taken6 = fmt.Sprintf("127.0.0.1:%d", held6.Addr().(*net.TCPAddr).Port)
	}
	// A port held on 127.0.0.1 by this process, as the service holds it,
	// and on [::1] by a child, another program (beside a service from
	// before brokerd listened on [::1]); and one held on both by this
	// process, as the service holds it now. "" without IPv6.
	var otherOn6, serviceOnBoth string
	if v4, v6 := loopbackPair(t); v4 != nil {
		defer v4.Close()
		otherOn6 = v4.Addr().String()
		holdInChild(t, v6)
	}
	if v4, v6 := loopbackPair(t); v4 != nil {
		defer v4.Close()
		defer v6.Close()
		serviceOnBoth = v4.Addr().String()
	}

	me := os.Getpid()
	for _, tc := range []struct {
		name   string
		listen string
		q      fakeQuerier
		setup  func(t *testing.T, dir string)
		want   Serving
		err    string // in the error; empty: none
	}{
		{"nothing", free, mainPID(0), nil, Serving{}, ""},
		{"a program on the port", taken, mainPID(0), nil, Serving{AddrInUse: true}, "is in use by another program"},
		{"a program on [::1] at the port", taken6, mainPID(0), nil, Serving{AddrInUse6: true},
			strings.Replace(taken6, "127.0.0.1", "[::1]", 1) + ", where the service would listen, is in use by another program"},
		{"a crashed daemon's files", free, mainPID(0),
			func(t *testing.T, dir string) {
				d, err := state.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Publish(state.Endpoint{URL: "http://" + free, PID: deadPID(t)}); err != nil {
					t.Fatal(err)
				}
			},
			Serving{}, ""},
		{"a brokerd in a terminal", taken, mainPID(0),
			func(t *testing.T, dir string) { serveIn(t, dir, me, taken) },
			Serving{Live: true, Answers: true, AddrInUse: true},
			fmt.Sprintf("brokerd pid %d (not the service) already serves %s: stop it (Ctrl-C in its terminal, or kill %d), then run `brokerd install --listen %s` again", me, taken, me, taken)},
		{"the service itself", taken, mainPID(me),
			func(t *testing.T, dir string) { serveIn(t, dir, me, taken) },
			Serving{ServicePID: me, Live: true, Answers: true, AddrInUse: true}, ""},
		{"the service on 127.0.0.1 and [::1]", serviceOnBoth, mainPID(me),
			func(t *testing.T, dir string) { serveIn(t, dir, me, serviceOnBoth) },
			Serving{ServicePID: me, Live: true, Answers: true, AddrInUse: true, AddrInUse6: true}, ""},
		{"the service on 127.0.0.1, another program on [::1]", otherOn6, mainPID(me),
			func(t *testing.T, dir string) { serveIn(t, dir, me, otherOn6) },
			Serving{ServicePID: me, Live: true, Answers: true, AddrInUse: true, AddrInUse6: true, Other6: true},
			strings.Replace(otherOn6, "127.0.0.1", "[::1]", 1) + ", where the service would listen, is in use by another program"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.listen == "" {
				t.Skip("no IPv6 loopback here")
			}
			dir := filepath.Join(t.TempDir(), "brokerd")
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			o := Options{GOOS: "linux", Binary: "/home/ana/.local/bin/brokerd", Home: "/home/ana", UID: 1000,
				StateDir: dir, Listen: tc.listen, BinaryOnPath: true}
			got, err := Survey(context.Background(), o, tc.q)
			if err != nil {
				t.Fatalf("Survey() = %v", err)
			}
			got.Endpoint = state.Endpoint{} // what was published, not checked here
			if got != tc.want {
				t.Errorf("Survey() = %+v, want %+v", got, tc.want)
			}
			in := Installed{}
			if tc.q.out[showMainPID] != "MainPID=0\n" { // installed, listening where o says
				in = Installed{Present: true, Listen: tc.listen}
			}
			err = CheckServing(context.Background(), o, in, tc.q)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("CheckServing() = %v, want %q", err, tc.err)
			}
			if _, err := os.Stat(dir); tc.setup == nil && err == nil {
				t.Errorf("CheckServing() made the state directory %s, want it left alone", dir)
			}
		})
	}
}

// loopbackPair listens on 127.0.0.1 and [::1] at one port, as the daemon
// does; nil listeners without IPv6.
func loopbackPair(t *testing.T) (v4, v6 *net.TCPListener) {
	t.Helper()
	for range 20 {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ln6, err := net.ListenTCP("tcp6", &net.TCPAddr{IP: net.IPv6loopback, Port: ln.Addr().(*net.TCPAddr).Port})
		if err == nil {
			return ln, ln6
		}
		ln.Close()
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil // no IPv6 loopback
		}
	}
	t.Fatal("found no port free on both 127.0.0.1 and [::1]")
	return nil, nil
}

// holdInChild hands ln to a child process, which holds it until the test
// ends, and closes it here.
func holdInChild(t *testing.T, ln *net.TCPListener) {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "3600")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ln.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// TestListening6 checks which sockets of /proc/net/tcp6 hold [::1] at a
// port, and that a holder other than the service is told from the service.
func TestListening6(t *testing.T) {
	// ::1 and :: as a little-endian machine prints them; then a listener
	// on another port, one on another address, and a connection.
	loop, any := "00000000000000000000000001000000", "00000000000000000000000000000000"
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 { // big-endian
		loop = "00000000000000000000000000000001"
	}
	table := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: " + loop + ":26B7 " + any + ":0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0\n" +
		"   1: " + any + ":26B7 " + any + ":0000 0A 00000000:00000000 00:00000000 00000000  1001        0 222 1 0000000000000000 100 0 0 10 0\n" +
		"   2: " + loop + ":26B8 " + any + ":0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 100 0 0 10 0\n" +
		"   3: 0000000000000000FFFF00000100007F:26B7 " + any + ":0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 100 0 0 10 0\n" +
		"   4: " + loop + ":26B7 " + loop + ":D431 01 00000000:00000000 00:00000000 00000000  1000        0 555 1 0000000000000000 100 0 0 10 0\n"
	got := listening6([]byte(table), 9911)
	if want := map[string]bool{"111": true, "222": true}; !maps.Equal(got, want) {
		t.Errorf("listening6(table, 9911) = %v, want %v", got, want)
	}

	root := t.TempDir()
	procRoot = root
	t.Cleanup(func() { procRoot = "/proc" })
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil || os.WriteFile(filepath.Join(root, "net", "tcp6"), []byte(table), 0o644) != nil {
		t.Fatal(err)
	}
	for pid, links := range map[string][]string{"10": {"/dev/null", "socket:[999]", "socket:[111]"}, "20": {"socket:[999]", "pipe:[111]"}} {
		for i, l := range links {
			dir := filepath.Join(root, pid, "fd")
			if err := os.MkdirAll(dir, 0o755); err != nil || os.Symlink(l, filepath.Join(dir, strconv.Itoa(i))) != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		pid, port int
		want      bool
	}{
		{10, 9911, false}, // holds it
		{20, 9911, true},  // does not
		{30, 9911, false}, // its descriptors cannot be read: not known
		{20, 9913, false}, // nothing listed there
	} {
		if got := heldElsewhere6(tc.pid, tc.port); got != tc.want {
			t.Errorf("heldElsewhere6(%d, %d) = %v, want %v", tc.pid, tc.port, got, tc.want)
		}
	}
}

// TestServicePID checks how the service's main process is asked for.
func TestServicePID(t *testing.T) {
	linux := Options{GOOS: "linux", Home: "/home/ana", UID: 1000}
	darwin := Options{GOOS: "darwin", Home: "/Users/ana", UID: 501}
	const printJob = "launchctl print gui/501/com.brokerd.agent"
	for _, tc := range []struct {
		name string
		o    Options
		q    fakeQuerier
		want int
		err  bool
	}{
		{"systemd, running", linux, mainPID(4321), 4321, false},
		{"systemd, not running or not installed", linux, mainPID(0), 0, false},
		{"systemd, no answer", linux, fakeQuerier{}, 0, true},
		{"systemd, no MainPID", linux, fakeQuerier{out: map[string]string{showMainPID: "\n"}}, 0, true},
		{"launchd, running", darwin, fakeQuerier{out: map[string]string{printJob: "gui/501/com.brokerd.agent = {\n\tactive count = 1\n\tstate = running\n\tpid = 777\n}\n"}}, 777, false},
		{"launchd, loaded but not running", darwin, fakeQuerier{out: map[string]string{printJob: "gui/501/com.brokerd.agent = {\n\tstate = not running\n}\n"}}, 0, false},
		{"launchd, not loaded", darwin, fakeQuerier{}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := servicePID(context.Background(), tc.o, tc.q)
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("servicePID() = %d, %v, want %d (error: %v)", got, err, tc.want, tc.err)
			}
		})
	}
}
