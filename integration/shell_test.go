//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/deploy"
)

// regionConfig gives dev a region, prod none of its own (its source's
// counts), staging one of its own, and ci none at all.
const regionConfig = `
[profile {dev}]
region = eu-west-1

[profile {bare}]

[profile {ci}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {bare}

[profile {prod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}

[profile {staging}]
region = us-east-2
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}
`

// noRegion clears the region newEnv gives every command, so that the
// region under test comes from brokerd alone.
func noRegion(e *Env) {
	e.setenv("AWS_REGION", "")
	e.setenv("AWS_DEFAULT_REGION", "")
}

// TestEnvWithoutDaemon checks that `brokerd env` prints the lines that
// will work once the daemon runs, warns on standard error, and exits 0, so
// an rc file never breaks a shell started before the daemon.
func TestEnvWithoutDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := t.TempDir() // nothing installed
	for _, args := range [][]string{{"env"}, {"env", "prod"}} {
		r := e.exec(t, map[string]string{"HOME": home}, "", brokerdBin, args...)
		if r.code != 0 {
			t.Fatalf("brokerd %s without a daemon: %v, want exit 0", strings.Join(args, " "), r)
		}
		vars := parseExports(t, r.stdout)
		want := "http://127.0.0.1:9911/v1/credentials"
		if len(args) > 1 {
			want += "/prod"
		}
		if got := vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"]; got != want {
			t.Errorf("brokerd %s: AWS_CONTAINER_CREDENTIALS_FULL_URI = %q, want %q", strings.Join(args, " "), got, want)
		}
		if got := vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]; got != filepath.Join(e.StateDir, "token") {
			t.Errorf("brokerd %s: token file %q, want %q", strings.Join(args, " "), got, filepath.Join(e.StateDir, "token"))
		}
		for _, w := range []string{"brokerd: warning: brokerd does not answer (it is not running)", "No such file or directory: '" + filepath.Join(e.StateDir, "token") + "'", "`brokerd install`"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("brokerd %s warned %q, want it to say %q", strings.Join(args, " "), r.stderr, w)
			}
		}
	}
}

// TestEnvInvalidConfig: a running daemon that cannot resolve a profile
// (role_arn without source_profile) says why, rather than `brokerd env`
// saying the daemon is down and to start it.
func TestEnvInvalidConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.writeConfig(t, "[profile {dev}]\n[profile {prod}]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\n")
	e.addKeys(t, dev, randomKeys(t))
	e.startDaemon(t, "--default-profile", prod)
	r := e.run(t, "", "env")
	if r.code != 0 || strings.Contains(r.stderr, "does not answer") || !strings.Contains(r.stderr, "no source_profile") {
		t.Errorf("brokerd env with the default profile invalid: %v, want exit 0 and the config's error, not that brokerd is down", r)
	}
	if vars := parseExports(t, r.stdout); vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "" {
		t.Errorf("brokerd env printed %q, want the endpoint's lines", r.stdout)
	}
	wantOneLineError(t, e.run(t, "", "env", prod), "no source_profile")
}

// TestShellOutlivesDaemon sets a shell up before the daemon starts, from
// the installed service's settings, then starts, stops, crashes and
// restarts the daemon: the shell works whenever the daemon runs, with no
// action, and the aws CLI says what the README says while it does not.
func TestShellOutlivesDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noRegion(e)
	e.writeConfig(t, regionConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	// The settings `brokerd install` writes, without a service manager.
	home := t.TempDir()
	p, err := deploy.Install(deploy.Options{GOOS: "linux", Binary: brokerdBin, Home: home, UID: os.Getuid(), StateDir: e.StateDir,
		Listen: listen, DefaultProfile: prod, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files() {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.Path, f.Content, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	envOut := func() result { return e.exec(t, map[string]string{"HOME": home}, "", brokerdBin, "env") }
	before := envOut()
	if before.code != 0 || !strings.Contains(before.stderr, "systemctl --user start brokerd") {
		t.Fatalf("brokerd env before the daemon: %v, want exit 0 and how to start the installed service", before)
	}
	shell := parseExports(t, before.stdout)
	for k, want := range map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://" + listen + "/v1/credentials",
		"BROKERD_PROFILE":                    prod,
		"AWS_REGION":                         "eu-west-1",
		"AWS_DEFAULT_REGION":                 "eu-west-1",
	} {
		if shell[k] != want {
			t.Errorf("brokerd env before the daemon: %s=%q, want %q", k, shell[k], want)
		}
	}
	works := func(when string) {
		t.Helper()
		if arn := e.callerARN(t, shell); !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("aws sts get-caller-identity %s: Arn %q, want %s…", when, arn, assumedUpdateApp)
		}
	}
	fails := func(when, want string) {
		t.Helper()
		r := e.exec(t, shell, "", "aws", "sts", "get-caller-identity")
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("aws sts get-caller-identity %s: %v, want it to say %q", when, r, want)
		}
	}
	start := func() *Daemon { return e.startDaemon(t, "--listen", listen, "--default-profile", prod) }

	d := start()
	works("in a shell set up before the daemon started")
	d.stop(t)
	fails("with the daemon stopped", "[Errno 2] No such file or directory: '"+filepath.Join(e.StateDir, "token")+"'")
	// exec and credential-process say to start the service, not to run
	// brokerd serve, which would hold its port.
	for _, args := range [][]string{{"exec", prod, "--", "true"}, {"credential-process", prod}} {
		r := e.exec(t, map[string]string{"HOME": home}, "", brokerdBin, args...)
		wantOneLineError(t, r, "systemctl --user start brokerd")
		if strings.Contains(r.stderr, "brokerd serve") {
			t.Errorf("brokerd %s with the installed service stopped says %q, want no brokerd serve", strings.Join(args, " "), r.stderr)
		}
	}
	// The README's troubleshooting table has what the aws CLI says.
	if readme, err := os.ReadFile("../README.md"); err != nil || !strings.Contains(string(readme), "| `[Errno 2] No such file or directory: '…/brokerd/token'`") ||
		!strings.Contains(string(readme), "| `Could not connect to the endpoint URL: ") {
		t.Errorf("README.md's troubleshooting table lacks the aws CLI's words with the daemon stopped or crashed (%v)", err)
	}
	d = start()
	works("after a restart")
	if again := envOut(); again.code != 0 || again.stdout != before.stdout || again.stderr != "" {
		t.Errorf("brokerd env with the daemon running: %v, want the same lines as before it ran, and no warning", again)
	}
	// A crash leaves the token file and endpoint behind.
	d.stopped = true
	d.cmd.Process.Kill()
	<-d.exited
	fails("after a crash", "Could not connect to the endpoint URL")
	start()
	works("after the crashed daemon was started again")
}

// TestExecShellAndRegion checks exec as aws-vault users know it: without
// a command it starts $SHELL with the endpoint, BROKERD_PROFILE and the
// profile's region; a region of the user's stays; a nested exec replaces
// the region brokerd gave; an unknown profile is refused before anything
// runs. env prints the same variables.
func TestExecShellAndRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noRegion(e)
	e.writeConfig(t, regionConfig)
	dev, prod, staging, ci := e.profile("dev"), e.profile("prod"), e.profile("staging"), e.profile("ci")
	e.addKeys(t, dev, randomKeys(t))
	e.startDaemon(t, "--default-profile", prod)
	show := `echo "$BROKERD_PROFILE $AWS_REGION $AWS_DEFAULT_REGION"`

	t.Run("shell", func(t *testing.T) {
		r := e.exec(t, map[string]string{"SHELL": "/bin/sh"}, show+"\naws sts get-caller-identity --query Arn --output text\n", brokerdBin, "exec", prod)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 2 || lines[0] != prod+" eu-west-1 eu-west-1" || !strings.HasPrefix(lines[1], assumedUpdateApp) {
			t.Errorf("brokerd exec %s (a shell): %v, want %q and the role's ARN", prod, r, prod+" eu-west-1 eu-west-1")
		}
	})
	for _, tc := range []struct {
		name  string
		extra map[string]string
		args  []string
		want  string
	}{
		{"own region", nil, []string{"exec", staging, "--", "sh", "-c", show}, staging + " us-east-2 us-east-2"},
		{"without --", nil, []string{"exec", staging, "sh", "-c", show}, staging + " us-east-2 us-east-2"},
		{"user's region kept", map[string]string{"AWS_REGION": "ap-south-1"}, []string{"exec", prod, "--", "sh", "-c", show}, prod + " ap-south-1 ap-south-1"},
		{"nested", map[string]string{"BROKERD_PROFILE": prod, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"},
			[]string{"exec", staging, "--", "sh", "-c", show}, staging + " us-east-2 us-east-2"},
		// The region brokerd gave staging is none of ci's, which has none.
		{"nested, no region", map[string]string{"BROKERD_PROFILE": staging, "AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-east-2"},
			[]string{"exec", ci, "--", "sh", "-c", show}, ci},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.exec(t, tc.extra, "", brokerdBin, tc.args...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != tc.want {
				t.Errorf("brokerd %s: %v, want %q", strings.Join(tc.args, " "), r, tc.want)
			}
		})
	}
	t.Run("Go SDK, keys in AWS_ACCESS_KEY", func(t *testing.T) {
		// The Go SDK reads keys from AWS_ACCESS_KEY and AWS_SECRET_KEY
		// too, before the endpoint: exec removes them, doctor names them.
		whoami := buildStatic(t, t.TempDir(), "./testdata/whoami", "whoami")
		keys := map[string]string{"AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_KEY": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"}
		if r := e.exec(t, keys, "", brokerdBin, "exec", prod, "--", whoami); r.code != 0 || !strings.HasPrefix(r.stdout, assumedUpdateApp) {
			t.Errorf("brokerd exec %s -- whoami with AWS_ACCESS_KEY set: %v, want the role's ARN", prod, r)
		}
		if r := e.exec(t, keys, "", brokerdBin, "doctor"); r.code == 0 || !strings.Contains(r.stdout, "unset AWS_ACCESS_KEY AWS_SECRET_KEY") {
			t.Errorf("brokerd doctor with AWS_ACCESS_KEY set: %v, want a failure with the fix unset AWS_ACCESS_KEY AWS_SECRET_KEY", r)
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		marker := filepath.Join(e.Dir, "ran")
		r := e.run(t, "", "exec", e.profile("prdo"), "--", "touch", marker)
		wantOneLineError(t, r, `no profile "`+e.profile("prdo")+`"`)
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("brokerd exec of an unknown profile ran the command")
		}
	})
	t.Run("env", func(t *testing.T) {
		vars := parseExports(t, e.mustRun(t, "", "env", staging))
		for k, want := range map[string]string{"BROKERD_PROFILE": staging, "AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-east-2"} {
			if vars[k] != want {
				t.Errorf("brokerd env %s: %s=%q, want %q", staging, k, vars[k], want)
			}
		}
		if arn := e.callerARN(t, vars); !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("aws with brokerd env %s and no other region: Arn %q", staging, arn)
		}
		r := e.exec(t, map[string]string{"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "", brokerdBin, "env", staging)
		if strings.Contains(r.stdout, "AWS_REGION") || strings.Contains(r.stdout, "AWS_DEFAULT_REGION") {
			t.Errorf("brokerd env with the user's region set printed %q, want no region lines", r.stdout)
		}
		wantOneLineError(t, e.run(t, "", "env", e.profile("prdo")), `no profile "`+e.profile("prdo")+`"`)
		// A shell whose region brokerd gave staging before that region was
		// edited gets the new one.
		edited := map[string]string{"BROKERD_PROFILE": staging, "BROKERD_REGION": "us-west-2", "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2"}
		vars = parseExports(t, e.mustExec(t, edited, "", brokerdBin, "env", staging))
		for k, want := range map[string]string{"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-east-2", "BROKERD_REGION": "us-east-2"} {
			if vars[k] != want {
				t.Errorf("brokerd env %s in a shell it gave us-west-2: %s=%q, want %q", staging, k, vars[k], want)
			}
		}
		// A shell set up for staging, then for ci, keeps no region of staging's.
		out := e.mustExec(t, nil, "", "sh", "-c", `eval "$(brokerd env "$1")" && eval "$(brokerd env "$2")" && `+show, "sh", staging, ci)
		if strings.TrimSpace(out) != ci {
			t.Errorf("a shell set up for %s, then %s: %q, want %q and no region", staging, ci, out, ci)
		}
	})
}

// TestCompletionProfiles checks that shell completion offers profile
// names wherever a profile is taken: the config's, from the daemon, and
// the keychain's.
func TestCompletionProfiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, regionConfig)
	dev, prod, staging := e.profile("dev"), e.profile("prod"), e.profile("staging")
	e.addKeys(t, dev, randomKeys(t))
	e.startDaemon(t)
	for _, args := range [][]string{
		{"env", e.prefix},
		{"exec", e.prefix},
		{"login", e.prefix},
		{"keys", "rotate", e.prefix},
		{"install", "--default-profile", e.prefix},
	} {
		// cobra's hidden __complete is what the completion scripts call.
		out := e.mustRun(t, "", append([]string{"__complete"}, args...)...)
		for _, want := range []string{dev, prod, staging} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("completion of brokerd %s offers %q, want %s among them", strings.Join(args, " "), out, want)
			}
		}
	}
	if out := e.mustRun(t, "", "completion", "bash"); !strings.Contains(out, "__start_brokerd") {
		t.Errorf("brokerd completion bash printed no bash completion script")
	}
}

// TestDoctorFixNamesProfile: doctor's fix for a shell set up for a
// profile whose name holds a percent escape names that profile, not the
// name the escape decodes to.
func TestDoctorFixNamesProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	odd := e.profile("a%2Fb")
	e.writeConfig(t, "[profile {dev}]\nregion = eu-west-1\n\n[profile "+odd+"]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = {dev}\n")
	e.addKeys(t, e.profile("dev"), randomKeys(t))
	e.startDaemon(t)
	shell := parseExports(t, e.mustRun(t, "", "env", odd))
	shell["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = filepath.Join(e.Dir, "elsewhere")
	r := e.exec(t, shell, "", brokerdBin, "doctor")
	if want := `fix: eval "$(brokerd env '` + odd + `')"`; !strings.Contains(r.stdout, want) {
		t.Errorf("brokerd doctor in a shell of %s with another token file: %v, want %q", odd, r, want)
	}
}
