//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userManager is a real systemd user manager, started by
// scripts/systemd-user-manager.sh (a copy of the shared tool; read
// /work/shared/notes/systemd-ci.md), with one bash inside it that runs the
// test's commands one at a time and keeps its state (variables, eval) from
// one command to the next, as a person's terminal does.
type userManager struct {
	Home    string // HOME inside
	Runtime string // XDG_RUNTIME_DIR inside
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	dir     string // the commands, their input and output
	n       int
	output  syncBuffer // what the manager's script printed
	exited  chan struct{}
	waitErr error
}

// managerScript is the shell that runs inside the manager: it tells the
// runtime directory, then sources each command file named on its standard
// input, with that command's own input and output files, and reports the
// exit status.
const managerScript = `d=$1
echo "ready $XDG_RUNTIME_DIR"
while IFS= read -r n; do
  . "$d/cmd.$n" <"$d/in.$n" >"$d/out.$n" 2>"$d/err.$n"
  echo "done $n $?"
done
`

// needRoot skips a test that needs root (systemd-user-manager.sh does),
// except in CI, where it fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		return
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" {
		t.Fatal("this test needs root for scripts/systemd-user-manager.sh, and CI must run it")
	}
	t.Skip("needs root for scripts/systemd-user-manager.sh (a real systemd user manager); with CI=true this fails")
}

// newHome returns an empty home directory outside the temporary directory,
// where `brokerd install` accepts a binary (it refuses one that `go run`
// or `go test` left in a temporary directory).
func newHome(t *testing.T) string {
	t.Helper()
	home, err := os.MkdirTemp("/var/tmp", "brokerd-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	return home
}

// realBinDir is the directory of the Python that runs the aws CLI, so that
// aws runs without pyenv's shims, which need the real HOME.
func realBinDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))").Output()
	if err != nil {
		t.Fatalf("find python3: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(dir, "aws")); err != nil {
		t.Fatalf("the aws CLI is not beside %s/python3: %v", dir, err)
	}
	return dir
}

// managerEnv is the environment of the manager and its shell: PATH with
// the real aws CLI and go, Go's caches (HOME changes inside), moto as STS,
// and nothing else of AWS or brokerd.
func managerEnv(t *testing.T, extra map[string]string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"PATH":                      realBinDir(t) + ":" + filepath.Dir(goBin) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"AWS_ENDPOINT_URL_STS":      openSTS.URL,
		"AWS_EC2_METADATA_DISABLED": "true",
		"LANG":                      "C.UTF-8",
	}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOTOOLCHAIN", "GOPROXY"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		if v := strings.TrimSpace(string(out)); v != "" {
			vars[k] = v
		}
	}
	for k, v := range extra {
		vars[k] = v
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// startUserManager starts a user manager for home and the shell in it. It
// is torn down when the test ends, which takes the script about a minute.
func startUserManager(t *testing.T, home string, env []string) *userManager {
	t.Helper()
	needRoot(t)
	script, err := filepath.Abs("../scripts/systemd-user-manager.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := &userManager{Home: home, dir: t.TempDir(), lines: make(chan string, 16), exited: make(chan struct{})}
	m.cmd = exec.Command(script, home, "bash", "--noprofile", "--norc", "-c", managerScript, "bash", m.dir)
	m.cmd.Env = env
	m.cmd.Stderr = &m.output
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "ready ") || strings.HasPrefix(l, "done ") {
				m.lines <- l
			} else {
				m.output.Write([]byte(l + "\n"))
			}
		}
		m.waitErr = m.cmd.Wait()
		close(m.exited)
		close(m.lines)
	}()
	t.Cleanup(func() {
		m.stdin.Close() // the shell ends, then the script tears the manager down
		select {
		case <-m.exited:
		case <-time.After(3 * time.Minute):
			syscall.Kill(m.cmd.Process.Pid, syscall.SIGTERM)
			<-m.exited
			t.Errorf("systemd-user-manager.sh did not end within 3 minutes of its command; output:\n%s", m.output.String())
		}
	})
	select {
	case l, ok := <-m.lines:
		if !ok {
			t.Fatalf("systemd-user-manager.sh ended before its shell started (%v):\n%s", m.waitErr, m.output.String())
		}
		m.Runtime = strings.TrimPrefix(l, "ready ")
	case <-time.After(2 * time.Minute):
		t.Fatalf("the user manager did not start within 2 minutes:\n%s", m.output.String())
	}
	if strings.Contains(m.output.String(), "FAIL") {
		t.Fatalf("the user manager's keyring did not come up:\n%s", m.output.String())
	}
	return m
}

// sh runs script (shell lines) in the manager's shell with stdin as its
// standard input, and returns what it printed and its exit status.
func (m *userManager) sh(t *testing.T, stdin, script string) result {
	t.Helper()
	m.n++
	n := strconv.Itoa(m.n)
	for name, content := range map[string]string{"cmd.": script + "\n", "in.": stdin} {
		if err := os.WriteFile(filepath.Join(m.dir, name+n), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(m.stdin, n+"\n"); err != nil {
		t.Fatalf("the manager's shell is gone (%v):\n%s", err, m.output.String())
	}
	select {
	case l, ok := <-m.lines:
		if !ok {
			t.Fatalf("the manager's shell ended during %q:\n%s", script, m.output.String())
		}
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != n {
			t.Fatalf("the manager's shell answered %q to command %s", l, n)
		}
		code, _ := strconv.Atoi(f[2])
		out, _ := os.ReadFile(filepath.Join(m.dir, "out."+n))
		errOut, _ := os.ReadFile(filepath.Join(m.dir, "err."+n))
		return result{stdout: string(out), stderr: string(errOut), code: code}
	case <-time.After(3 * time.Minute):
		t.Fatalf("%q ran for more than 3 minutes in the manager's shell", script)
	}
	return result{}
}

// mustSh is sh that fails the test unless the script exits 0.
func (m *userManager) mustSh(t *testing.T, stdin, script string) string {
	t.Helper()
	r := m.sh(t, stdin, script)
	if r.code != 0 {
		t.Fatalf("%s: %v", script, r)
	}
	return r.stdout
}

// managerEnvironment returns `systemctl --user show-environment` as a map.
func (m *userManager) managerEnvironment(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, l := range strings.Split(m.mustSh(t, "", "systemctl --user show-environment"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// show returns a property of brokerd.service.
func (m *userManager) show(t *testing.T, property string) string {
	t.Helper()
	return strings.TrimSpace(m.mustSh(t, "", "systemctl --user show -p "+property+" --value brokerd.service"))
}

// files lists the files and links under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// installedBrokerd copies the tested brokerd binary into home's
// ~/.local/bin, where a user installs it.
func installedBrokerd(t *testing.T, home string) string {
	t.Helper()
	bin := filepath.Join(home, ".local", "bin", "brokerd")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(brokerdBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestInstallWithoutUserManager runs `brokerd install` where no systemd
// user manager runs (XDG_RUNTIME_DIR has none, as in a container or a
// login without lingering): it refuses in one line that says what to do,
// with the options given (brokerd not being on PATH here, by its path),
// before anything else, and leaves no file behind.
func TestInstallWithoutUserManager(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := newHome(t)
	bin := installedBrokerd(t, home)
	runtime := t.TempDir()
	before := files(t, home)
	for _, tc := range []struct {
		args         []string
		serve, again string // the commands advised
	}{
		{[]string{"install"}, bin + " serve", bin + " install"},
		{[]string{"install", "--default-profile", "prod"}, bin + " serve --default-profile prod", bin + " install --default-profile prod"},
		{[]string{"install", "--listen", "localhost:9922", "--default-profile", "prod"},
			bin + " serve --listen localhost:9922 --default-profile prod", bin + " install --listen localhost:9922 --default-profile prod"},
	} {
		args := tc.args
		r := e.exec(t, map[string]string{"HOME": home, "XDG_RUNTIME_DIR": runtime, "DBUS_SESSION_BUS_ADDRESS": ""}, "", bin, args...)
		wantOneLineError(t, r, "no systemd user manager runs for this login, so nothing was installed: run `"+tc.serve+"` in a terminal instead")
		if !strings.Contains(r.stderr, "loginctl enable-linger $USER` (then log in again) and run `"+tc.again+"` again") {
			t.Errorf("brokerd %s: %q, want it to say how to enable lingering, then to run %s again", strings.Join(args, " "), r.stderr, tc.again)
		}
		if after := files(t, home); !slices.Equal(after, before) {
			t.Errorf("brokerd %s left %q in HOME, want only %q", strings.Join(args, " "), after, before)
		}
	}
}

// fakeSystemctl is a systemctl that logs its arguments to $SYSTEMCTL_LOG,
// answers as a user manager with nothing installed does, and takes a
// minute to restart a unit, as a service slow to start or stop does.
const fakeSystemctl = `#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
case "$*" in
*"show --property=MainPID"*) echo MainPID=0 ;;
*restart*) exec sleep 60 ;;
esac
`

// TestInstallInterrupted interrupts `brokerd install` (Ctrl-C) while it
// restarts the service: what it did is undone, as when a step fails, and
// it says it was interrupted, rather than dying with the unit written and
// enabled. A fake systemctl stands in for the user manager, to make the
// restart last.
func TestInstallInterrupted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, "[default]\nregion = eu-west-1\n")
	home := newHome(t)
	bin := installedBrokerd(t, home)
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "systemctl.log")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	before := files(t, home)
	cmd := exec.Command(bin, "install", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = e.environ(map[string]string{"HOME": home, "XDG_RUNTIME_DIR": t.TempDir(), "SYSTEMCTL_LOG": log,
		"PATH": fake + string(os.PathListSeparator) + os.Getenv("PATH")})
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that what it leaves can be ended
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	restarting := func() bool {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "restart brokerd.service")
	}
	waitFor(t, "install to restart the service", restarting)
	cmd.Process.Signal(os.Interrupt)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("brokerd install did not end within 30 s of Ctrl-C; stderr:\n%s", stderr.String())
	}
	r := lastLine(result{stderr: stderr.String(), code: cmd.ProcessState.ExitCode()})
	wantOneLineError(t, r, "install: interrupted [systemctl --user restart brokerd.service: ")
	if after := files(t, home); !slices.Equal(after, before) {
		t.Errorf("an interrupted install left %q in HOME, want only %q; stderr:\n%s", after, before, stderr.String())
	}
	b, _ := os.ReadFile(log)
	if ran := string(b); !strings.HasSuffix(ran, "--user disable --now brokerd.service\n--user daemon-reload\n") {
		t.Errorf("systemctl ran:\n%s\nwant the install undone: disable --now, then daemon-reload once the files are gone", ran)
	}
}

// TestSystemdUserManager runs the tests that need a real systemd user
// manager: the README's quick start and the life of an installed service.
// They run beside each other, but not beside the other tests: a manager's
// start and teardown, and the quick start's `go build`, take the CPU that
// the tests of response times need.
func TestSystemdUserManager(t *testing.T) {
	needRoot(t)
	t.Run("QuickStart", func(t *testing.T) { t.Parallel(); testQuickStart(t) })
	t.Run("Install", func(t *testing.T) { t.Parallel(); testInstallUserService(t) })
}

// testInstallUserService installs brokerd into a real systemd user manager
// and follows it through its life: the default profile is refused when the
// config has none; an install whose service could not start, for another
// program on its port or a `brokerd serve` in a terminal, is refused before
// anything is written; a failed start is undone; the service runs (Type=notify),
// reads the keys the CLI stored, and exports the endpoint, the profile and
// its region to the manager (a region of the user's is kept); a shell set up
// before survives a crash and a stop; uninstall removes it all, and says
// in one line that there is nothing to uninstall before and after.
func testInstallUserService(t *testing.T) {
	home := newHome(t)
	installedBrokerd(t, home)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	m := startUserManager(t, home, managerEnv(t, nil))
	m.mustSh(t, "", `export PATH="$HOME/.local/bin:$PATH"; cd "$HOME"`)
	// moto as AWS for the service too.
	m.mustSh(t, "", "systemctl --user set-environment AWS_ENDPOINT_URL_STS="+openSTS.URL+" AWS_EC2_METADATA_DISABLED=true")
	m.mustSh(t, "", "mkdir -p ~/.aws && cat > ~/.aws/config <<'EOF'\n"+
		"[profile dev]\nregion = eu-west-1\n\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\nEOF")
	keys := randomKeys(t)
	m.mustSh(t, keys.stdin(), "brokerd keys add dev")
	clean := files(t, home)
	notInstalled := func(when string) {
		t.Helper()
		r := m.sh(t, "", "brokerd uninstall")
		if want := "brokerd is not installed as a user service: nothing to uninstall\n"; r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("brokerd uninstall %s = %v, want exit 0, only %q", when, r, want)
		}
	}
	notInstalled("before any install")

	t.Run("no default profile", func(t *testing.T) {
		r := m.sh(t, "", "brokerd install --listen "+listen)
		wantOneLineError(t, r, `has no profile "default" (nor has the keychain) for new sessions to use: run `+"`brokerd install --listen "+listen+" --default-profile NAME`"+` with one of: dev, prod`)
		if got := files(t, home); !slices.Equal(got, clean) {
			t.Errorf("a refused install left %q, want %q", got, clean)
		}
	})
	again := "run `brokerd install --listen " + listen + " --default-profile prod` again"
	t.Run("port taken", func(t *testing.T) {
		// Another program holds the port: the service could not start,
		// so install refuses before it writes anything.
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		r := m.sh(t, "", "brokerd install --default-profile prod --listen "+listen)
		ln.Close()
		wantOneLineError(t, r, listen+", where the service would listen, is in use by another program: stop that program and "+again)
		if got := files(t, home); !slices.Equal(got, clean) {
			t.Errorf("a refused install left %q, want %q", got, clean)
		}
	})
	t.Run("brokerd serve in a terminal", func(t *testing.T) {
		// The README's quick start: `brokerd serve` first, then install.
		// Same state directory, same port: the service could not start.
		pid := strings.TrimSpace(m.mustSh(t, "", "brokerd serve --listen "+listen+" --default-profile prod >/dev/null 2>&1 & echo $!"))
		defer m.sh(t, "", "kill "+pid+"; wait "+pid)
		m.mustSh(t, "", "for i in $(seq 300); do brokerd status >/dev/null 2>&1 && break; sleep 0.1; done; brokerd status")
		before := files(t, home) // with the daemon's audit log
		r := m.sh(t, "", "brokerd install --default-profile prod --listen "+listen)
		wantOneLineError(t, r, "brokerd pid "+pid+" (not the service) already serves "+listen+": stop it (Ctrl-C in its terminal, or kill "+pid+"), then "+again)
		if got := files(t, home); !slices.Equal(got, before) {
			t.Errorf("a refused install left %q, want %q", got, before)
		}
		if r := m.sh(t, "", "systemctl --user is-enabled brokerd.service"); r.code == 0 {
			t.Errorf("after a refused install, brokerd.service is enabled: %v", r)
		}
	})
	clean = files(t, home) // and the audit log of the daemon that ran
	t.Run("failed start undone", func(t *testing.T) {
		// A file where the state directory goes: the service cannot start,
		// and nothing install checks beforehand could tell.
		m.mustSh(t, "", `rm -rf "$XDG_RUNTIME_DIR/brokerd" && touch "$XDG_RUNTIME_DIR/brokerd"`)
		r := m.sh(t, "", "brokerd install --default-profile prod --listen "+listen)
		m.mustSh(t, "", `rm "$XDG_RUNTIME_DIR/brokerd"`)
		// install reports each step on standard error, then the error.
		wantOneLineError(t, lastLine(r), "brokerd.service did not start, so the install was undone: see why with `journalctl --user -u brokerd -n 20`")
		for _, undone := range []string{"undo: run systemctl --user disable --now brokerd.service", "undo: remove " + home + "/.config/systemd/user/brokerd.service"} {
			if !strings.Contains(r.stderr, undone) {
				t.Errorf("brokerd install's progress %q, want %q", r.stderr, undone)
			}
		}
		if got := files(t, home); !slices.Equal(got, clean) {
			t.Errorf("a failed install left %q, want %q", got, clean)
		}
		if r := m.sh(t, "", "systemctl --user is-enabled brokerd.service"); r.code == 0 {
			t.Errorf("after a failed install, brokerd.service is enabled: %v", r)
		}
		if env := m.managerEnvironment(t); env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != "" || env["BROKERD_PROFILE"] != "" {
			t.Errorf("after a failed install the manager still exports %v", env)
		}
	})

	// A region of the user's own, from an earlier environment.d file.
	m.mustSh(t, "", "mkdir -p ~/.config/environment.d && echo AWS_REGION=ap-south-1 > ~/.config/environment.d/50-mine.conf")
	clean = files(t, home)
	out := m.mustSh(t, "", "brokerd install --default-profile prod --listen "+listen)
	if !strings.Contains(out, `eval "$(brokerd env)"`) {
		t.Errorf("brokerd install printed %q, want the rc line", out)
	}
	if got := m.show(t, "ActiveState"); got != "active" {
		t.Fatalf("brokerd.service is %s after install, want active; journal:\n%s", got, m.sh(t, "", "journalctl --user -u brokerd --no-pager | tail -20").stdout)
	}
	if got := m.show(t, "Type"); got != "notify" {
		t.Errorf("brokerd.service Type = %s, want notify", got)
	}
	token := filepath.Join(m.Runtime, "brokerd", "token")
	env := m.managerEnvironment(t)
	for k, want := range map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "http://" + listen + "/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": token,
		"BROKERD_PROFILE":                        "prod",
		"AWS_REGION":                             "ap-south-1", // the user's, kept
		"AWS_DEFAULT_REGION":                     "ap-south-1", // and given to the aws CLI v1 too
	} {
		if env[k] != want {
			t.Errorf("systemctl --user show-environment: %s=%q, want %q", k, env[k], want)
		}
	}
	m.mustSh(t, "", "rm ~/.config/environment.d/50-mine.conf && systemctl --user unset-environment AWS_REGION AWS_DEFAULT_REGION && systemctl --user daemon-reload")
	clean = slices.DeleteFunc(clean, func(f string) bool { return f == ".config/environment.d/50-mine.conf" })
	if env := m.managerEnvironment(t); env["AWS_REGION"] != "eu-west-1" || env["AWS_DEFAULT_REGION"] != "eu-west-1" {
		t.Errorf("without a region of the user's, the manager exports AWS_REGION=%q AWS_DEFAULT_REGION=%q, want prod's (its source dev's) eu-west-1",
			env["AWS_REGION"], env["AWS_DEFAULT_REGION"])
	}

	// A shell set up with `brokerd env`, as a user's rc file does; the
	// keys stored by the CLI are read by the service.
	m.mustSh(t, "", `eval "$(brokerd env)"`)
	arn := func() result { return m.sh(t, "", "aws sts get-caller-identity --query Arn --output text") }
	if r := arn(); r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), assumedUpdateApp) {
		t.Fatalf("aws sts get-caller-identity through the service = %v, want %s…", r, assumedUpdateApp)
	}

	t.Run("shell whose runtime directory others may write to", func(t *testing.T) {
		// WSLg sets XDG_RUNTIME_DIR to /mnt/wslg/runtime-dir, which the
		// CLI must not keep its state in, while the service has the
		// manager's: the CLI finds the service's all the same, and does
		// not start a second daemon beside it.
		m.mustSh(t, "", `wslg=$(mktemp -d) && chmod 770 "$wslg"`)
		defer m.mustSh(t, "", `rmdir "$wslg"`)
		r := m.sh(t, "", `XDG_RUNTIME_DIR=$wslg brokerd status`)
		if r.code != 0 || !strings.Contains(r.stdout, "serving http://"+listen) {
			t.Errorf("brokerd status with XDG_RUNTIME_DIR writable by its group = %v, want the service", r)
		}
		r = m.sh(t, "", `XDG_RUNTIME_DIR=$wslg brokerd env`)
		if want := "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + token + "\n"; r.code != 0 || !strings.Contains(r.stdout, want) || r.stderr != "" {
			t.Errorf("brokerd env with XDG_RUNTIME_DIR writable by its group = %v, want %q and no warning", r, want)
		}
		r = m.sh(t, "", `(export XDG_RUNTIME_DIR=$wslg; eval "$(brokerd env)"; aws sts get-caller-identity --query Arn --output text)`)
		if r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), assumedUpdateApp) {
			t.Errorf("aws sts get-caller-identity in that shell = %v, want %s…", r, assumedUpdateApp)
		}
		// timeout only ends a second daemon, should one start.
		r = m.sh(t, "", `XDG_RUNTIME_DIR=$wslg timeout 60 brokerd serve --listen 127.0.0.1:0`)
		if r.code != 1 || !strings.Contains(r.stderr, "another brokerd is already running with state directory "+filepath.Dir(token)) {
			t.Errorf("brokerd serve in that shell = %v, want it refused: the service runs", r)
		}
	})
	t.Run("crash", func(t *testing.T) {
		pid := m.show(t, "MainPID")
		restarts := m.show(t, "NRestarts")
		m.mustSh(t, "", "kill -9 "+pid)
		waitForIn(t, 30*time.Second, "brokerd.service to be restarted", func() bool {
			return m.show(t, "NRestarts") != restarts && m.show(t, "ActiveState") == "active"
		})
		if r := arn(); r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), assumedUpdateApp) {
			t.Errorf("the same shell after a crash and restart: %v, want %s…", r, assumedUpdateApp)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		m.mustSh(t, "", "systemctl --user stop brokerd.service")
		r := arn()
		if want := "[Errno 2] No such file or directory: '" + token + "'"; r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("aws sts get-caller-identity with brokerd stopped = %v, want the README's %q", r, want)
		}
		r = m.sh(t, "", "brokerd env")
		if r.code != 0 || !strings.Contains(r.stdout, "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://"+listen+"/v1/credentials") ||
			!strings.Contains(r.stderr, "systemctl --user start brokerd") {
			t.Errorf("brokerd env with brokerd stopped = %v, want the installed endpoint, exit 0, and how to start it", r)
		}
		r = m.sh(t, "", "brokerd status")
		wantOneLineError(t, r, "brokerd is installed but not running: start it with `systemctl --user start brokerd`")
		r = m.sh(t, "", "brokerd doctor")
		if r.code == 0 || !strings.Contains(r.stdout, "[Errno 2] No such file or directory: '"+token+"'") {
			t.Errorf("brokerd doctor with brokerd stopped = %v, want a failure naming what SDKs print", r)
		}
		m.mustSh(t, "", "systemctl --user start brokerd.service")
		if r := arn(); r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), assumedUpdateApp) {
			t.Errorf("the same shell after a start: %v, want %s…", r, assumedUpdateApp)
		}
	})
	t.Run("again", func(t *testing.T) {
		// An upgrade: the binary replaced (as go build -o or a package
		// manager does) while the service runs the old one, which
		// status says, until install runs again.
		m.mustSh(t, "", "cp ~/.local/bin/brokerd ~/.local/bin/brokerd.new && mv -f ~/.local/bin/brokerd.new ~/.local/bin/brokerd")
		want := "runs a brokerd binary that was replaced (an upgrade) or deleted since it started: run `brokerd install --listen " + listen + " --default-profile prod`"
		if r := m.sh(t, "", "brokerd status"); r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("brokerd status after the binary was replaced = %v, want a warning that says %q", r, want)
		}
		m.mustSh(t, "", "brokerd install --default-profile prod --listen "+listen)
		if got := m.show(t, "ActiveState"); got != "active" {
			t.Errorf("brokerd.service is %s after a second install, want active", got)
		}
		if r := m.sh(t, "", "brokerd status"); r.code != 0 || r.stderr != "" {
			t.Errorf("brokerd status after installing again = %v, want no warning", r)
		}
	})
	t.Run("binary moved", func(t *testing.T) {
		// The binary moved (to ~/bin, say, or a package manager's
		// directory): the service runs on, but could not start again,
		// which status says while it runs; once it stopped, starting it
		// would fail, so the advice is to install again, from the new place.
		m.mustSh(t, "", "mkdir -p ~/bin && mv ~/.local/bin/brokerd ~/bin/brokerd")
		defer m.mustSh(t, "", "mv ~/bin/brokerd ~/.local/bin/brokerd && rmdir ~/bin && brokerd install --default-profile prod --listen "+listen)
		moved := filepath.Join(home, "bin", "brokerd")
		again := "`" + moved + " install --listen " + listen + " --default-profile prod`"
		gone := "the binary it runs, " + filepath.Join(home, ".local", "bin", "brokerd") + ", is gone"
		r := m.sh(t, "", "~/bin/brokerd status")
		if r.code != 0 || !strings.Contains(r.stderr, "warning: the service runs, but "+gone) || !strings.Contains(r.stderr, "run "+again) {
			t.Errorf("brokerd status, the service's binary moved = %v, want a warning that says %s and to run %s", r, gone, again)
		}
		m.mustSh(t, "", "systemctl --user stop brokerd.service")
		r = m.sh(t, "", "~/bin/brokerd status")
		wantOneLineError(t, r, "brokerd is installed but not running: start it with "+again+" ("+gone+")")
		m.mustSh(t, "", "~/bin/brokerd install --default-profile prod --listen "+listen)
		if r := m.sh(t, "", "~/bin/brokerd status"); r.code != 0 || r.stderr != "" {
			t.Errorf("brokerd status after installing from the new place = %v, want no warning", r)
		}
	})
	t.Run("config file named by AWS_CONFIG_FILE", func(t *testing.T) {
		// install chooses the default profile from the file this shell
		// names; the service, which the user manager starts without that
		// variable, must serve from the same file.
		m.mustSh(t, "", `mkdir ~/work && mv ~/.aws/config ~/work/aws-config && export AWS_CONFIG_FILE=~/work/aws-config`)
		defer m.mustSh(t, "", `mv ~/work/aws-config ~/.aws/config && rmdir ~/work && unset AWS_CONFIG_FILE`)
		m.mustSh(t, "", "brokerd install --default-profile prod --listen "+listen)
		if r := arn(); r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), assumedUpdateApp) {
			t.Errorf("aws sts get-caller-identity through the service installed with AWS_CONFIG_FILE: %v, want %s…", r, assumedUpdateApp)
		}
	})

	// A desktop session imports the variables environment.d gave it into
	// the manager, where daemon-reload does not reach them.
	m.mustSh(t, "", "systemctl --user import-environment AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE BROKERD_PROFILE")
	m.mustSh(t, "", "brokerd uninstall")
	if got := m.show(t, "ActiveState"); got == "active" {
		t.Errorf("brokerd.service is active after uninstall")
	}
	// The daemon's data (its audit log in ~/.local/state) stays, as a
	// package's uninstall keeps logs.
	data := func(f string) bool { return strings.HasPrefix(f, ".local/state/") }
	if got := slices.DeleteFunc(files(t, home), data); !slices.Equal(got, slices.DeleteFunc(clean, data)) {
		t.Errorf("after uninstall HOME holds %q, want as before install %q", got, clean)
	}
	notInstalled("again")
	env = m.managerEnvironment(t)
	for _, k := range []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "BROKERD_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		if v, ok := env[k]; ok {
			t.Errorf("after uninstall the manager still exports %s=%s", k, v)
		}
	}
}

// lastLine is r with only the last line of its standard error: a command
// that reports its progress there ends with its error.
func lastLine(r result) result {
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	r.stderr = lines[len(lines)-1] + "\n"
	return r
}

// waitForIn polls cond every 200 ms until it holds, failing the test after d.
func waitForIn(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
