//go:build integration

package integration

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shadowingVars are what a shell may hold that would take precedence over
// the container endpoint in SDK credential chains, or point at a stale one.
func shadowingVars(t testing.TB, e *Env) map[string]string {
	k := randomKeys(t)
	return map[string]string{
		"AWS_ACCESS_KEY_ID":                      k.ID,
		"AWS_SECRET_ACCESS_KEY":                  k.Secret,
		"AWS_SESSION_TOKEN":                      "stale-session-token",
		"AWS_PROFILE":                            e.profile("nosuch"),
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/stale",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "http://127.0.0.1:1/v1/credentials/stale",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/nonexistent/token",
	}
}

// TestExec checks `brokerd exec PROFILE -- COMMAND`: the command's exit code
// and standard input pass through, variables that would shadow the endpoint
// are removed, the endpoint variables name PROFILE on the running daemon,
// and the aws CLI run this way is the role whatever the caller's shell
// held.
func TestExec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))

	t.Run("no daemon", func(t *testing.T) {
		wantOneLineError(t, e.run(t, "", "exec", prod, "--", "true"), "brokerd is not running: start it with `brokerd serve`")
	})

	d := e.startDaemon(t)
	shadow := shadowingVars(t, e)

	t.Run("exit code", func(t *testing.T) {
		r := e.exec(t, shadow, "", brokerdBin, "exec", prod, "--", "sh", "-c", "exit 7")
		if r.code != 7 {
			t.Errorf("brokerd exec %s -- sh -c 'exit 7': %v, want exit 7", prod, r)
		}
	})
	t.Run("standard streams", func(t *testing.T) {
		r := e.exec(t, nil, "from stdin\n", brokerdBin, "exec", prod, "--", "sh", "-c", "cat; echo to stderr >&2")
		if r.code != 0 || r.stdout != "from stdin\n" || r.stderr != "to stderr\n" {
			t.Errorf("brokerd exec %s -- sh -c 'cat; echo to stderr >&2': %v", prod, r)
		}
	})
	t.Run("environment", func(t *testing.T) {
		out := e.mustExec(t, shadow, "", brokerdBin, "exec", prod, "--", "env")
		vars := map[string]string{}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			k, v, _ := strings.Cut(line, "=")
			vars[k] = v
		}
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
			if v, ok := vars[k]; ok {
				t.Errorf("the command's environment has %s=%s, want it removed", k, v)
			}
		}
		want := map[string]string{
			"AWS_CONTAINER_CREDENTIALS_FULL_URI":     d.URL + "/v1/credentials/" + prod,
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": filepath.Join(e.StateDir, "token"),
			"AWS_CONFIG_FILE":                        e.ConfigFile, // the rest passes through
			"AWS_REGION":                             "us-east-1",
		}
		for k, v := range want {
			if vars[k] != v {
				t.Errorf("the command's environment has %s=%q, want %q", k, vars[k], v)
			}
		}
	})
	t.Run("aws CLI", func(t *testing.T) {
		out := e.mustExec(t, shadow, "", brokerdBin, "exec", prod, "--", "aws", "sts", "get-caller-identity", "--output", "text", "--query", "Arn")
		if arn := strings.TrimSpace(out); !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("brokerd exec %s -- aws sts get-caller-identity with keys and AWS_PROFILE in the caller's environment: Arn = %q, want %s…", prod, arn, assumedUpdateApp)
		}
	})
	t.Run("no such command", func(t *testing.T) {
		r := e.run(t, "", "exec", prod, "--", "brokerd-no-such-command")
		wantOneLineError(t, r, "command not found")
		if !strings.Contains(r.stderr, "brokerd-no-such-command") {
			t.Errorf("stderr = %q, want it to name the command", r.stderr)
		}
		if r.code != 127 {
			t.Errorf("exit status %d, want 127 as a shell's for a command not found", r.code)
		}
		for _, path := range []string{"./brokerd-no-such-command", "/nonexistent/brokerd-no-such-command"} {
			if r := e.run(t, "", "exec", prod, "--", path); r.code != 127 {
				t.Errorf("brokerd exec %s -- %s: %v, want exit status 127", prod, path, r)
			}
		}
	})
	t.Run("without --", func(t *testing.T) {
		// As aws-vault exec: what follows the profile is the command.
		if out := e.mustRun(t, "", "exec", prod, "sh", "-c", "echo $BROKERD_PROFILE"); strings.TrimSpace(out) != prod {
			t.Errorf("brokerd exec %s sh -c 'echo $BROKERD_PROFILE' printed %q, want %s", prod, out, prod)
		}
	})
}

// TestCredentialProcess checks `brokerd credential-process PROFILE` as the
// aws CLI runs it from a profile's credential_process, without the
// container variables; its output format; and its errors.
func TestCredentialProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig+`
[profile {prod}-cli]
credential_process = `+brokerdBin+` credential-process {prod}
region = us-east-1

[profile {nosuch}-cli]
credential_process = `+brokerdBin+` credential-process {nosuch}
region = us-east-1
`)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))

	t.Run("no daemon", func(t *testing.T) {
		r := e.run(t, "", "credential-process", prod)
		wantOneLineError(t, r, "brokerd is not running: start it with `brokerd serve`")
	})

	d := e.startDaemon(t)

	t.Run("aws CLI with AWS_PROFILE", func(t *testing.T) {
		arn := e.callerARN(t, map[string]string{"AWS_PROFILE": prod + "-cli"})
		if !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("aws sts get-caller-identity with AWS_PROFILE=%s-cli: Arn = %q, want %s…", prod, arn, assumedUpdateApp)
		}
	})
	t.Run("output", func(t *testing.T) {
		out := e.mustRun(t, "", "credential-process", prod)
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("brokerd credential-process printed %q: %v", out, err)
		}
		if got["Version"] != 1.0 {
			t.Errorf("Version = %v, want 1", got["Version"])
		}
		for _, k := range []string{"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"} {
			if s, _ := got[k].(string); s == "" {
				t.Errorf("%s is missing or empty in %s", k, out)
			}
		}
		for k := range got {
			if !slices.Contains([]string{"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"}, k) {
				t.Errorf("unexpected field %s in %s", k, out)
			}
		}
		exp, err := time.Parse(time.RFC3339, got["Expiration"].(string))
		if err != nil || time.Until(exp) < 15*time.Minute {
			t.Errorf("Expiration %v (%v), want RFC 3339 and more than 15 minutes away", got["Expiration"], err)
		}
		// The same credentials the endpoint serves, from the daemon's cache.
		if c := d.credentials(t, prod); got["AccessKeyId"] != c.AccessKeyID || got["SessionToken"] != c.Token {
			t.Errorf("credential-process gave key %v, the endpoint serves %s", got["AccessKeyId"], c.AccessKeyID)
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		nosuch := e.profile("nosuch")
		r := e.run(t, "", "credential-process", nosuch)
		wantOneLineError(t, r, "run `brokerd keys add "+nosuch+"`")
		if r.stdout != "" {
			t.Errorf("stdout = %q, want nothing", r.stdout)
		}
		// The aws CLI shows brokerd's message.
		cli := e.exec(t, map[string]string{"AWS_PROFILE": nosuch + "-cli"}, "", "aws", "sts", "get-caller-identity")
		if cli.code == 0 || !strings.Contains(cli.stderr, "brokerd keys add "+nosuch) {
			t.Errorf("aws sts get-caller-identity with AWS_PROFILE=%s-cli: %v\nwant a failure showing brokerd's message", nosuch, cli)
		}
	})
	t.Run("daemon killed", func(t *testing.T) {
		// Its endpoint and token files stay, naming an address where
		// nothing listens: said as when no daemon runs, not as a
		// failure to connect.
		d.cmd.Process.Kill()
		<-d.exited
		d.stopped = true
		r := e.run(t, "", "credential-process", prod)
		wantOneLineError(t, r, "brokerd is not running: start it with `brokerd serve`")
		if r.stdout != "" {
			t.Errorf("stdout = %q, want nothing", r.stdout)
		}
	})
	t.Run("wrong arguments", func(t *testing.T) {
		r := e.run(t, "", "credential-process")
		if r.code == 0 || r.stdout != "" {
			t.Errorf("brokerd credential-process without a profile: %v, want a failure", r)
		}
	})
}

// TestEnvShells checks `brokerd env --shell` for fish and PowerShell
// against the running daemon, and a shell it does not know.
func TestEnvShells(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig) // env refuses a profile neither the config nor the keychain has
	d := e.startDaemon(t)
	prod := e.profile("prod")
	url, token := d.URL+"/v1/credentials", filepath.Join(e.StateDir, "token")
	if strings.ContainsAny(token, " '\"$\\") {
		t.Fatalf("state directory %s needs quoting; the expectations below assume it does not", e.StateDir)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"env", "--shell", "fish"},
			"set -gx AWS_CONTAINER_CREDENTIALS_FULL_URI " + url + ";\nset -gx AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + token + ";\n"},
		{[]string{"env", "--shell", "fish", prod},
			"set -gx AWS_CONTAINER_CREDENTIALS_FULL_URI " + url + "/" + prod + ";\nset -gx AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + token + ";\nset -gx BROKERD_PROFILE " + prod + ";\n"},
		{[]string{"env", "--shell", "powershell"},
			"$Env:AWS_CONTAINER_CREDENTIALS_FULL_URI = '" + url + "'\n$Env:AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = '" + token + "'\n"},
		{[]string{"env", "--shell", "pwsh", prod},
			"$Env:AWS_CONTAINER_CREDENTIALS_FULL_URI = '" + url + "/" + prod + "'\n$Env:AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = '" + token + "'\n$Env:BROKERD_PROFILE = '" + prod + "'\n"},
		{[]string{"env", "--shell", "zsh"},
			"export AWS_CONTAINER_CREDENTIALS_FULL_URI=" + url + "\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + token + "\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			if got := e.mustRun(t, "", tt.args...); got != tt.want {
				t.Errorf("brokerd %s printed\n%s\nwant\n%s", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
	t.Run("unknown shell", func(t *testing.T) {
		r := e.run(t, "", "env", "--shell", "csh")
		wantOneLineError(t, r, `--shell "csh": want bash, zsh, fish or powershell`)
		if r.stdout != "" {
			t.Errorf("stdout = %q, want nothing (eval would run it)", r.stdout)
		}
	})
}

// TestReloadOnSIGHUP changes a profile's role_arn under a running daemon:
// the edit applies when saved (the config file is watched), so the next
// request assumes the new role without a signal; SIGHUP (as `systemctl
// --user reload brokerd` sends) then refreshes the profile in use once
// more. The daemon keeps its process, endpoint and token.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)
	prodEnv := parseExports(t, e.mustRun(t, "", "env", prod))
	before := d.credentials(t, prod)
	if before.RoleArn != "arn:aws:iam::999999999999:role/UpdateApp" {
		t.Fatalf("RoleArn = %q before the edit, want role/UpdateApp", before.RoleArn)
	}

	// Written again until seen: the daemon's watch may not be in place at
	// the first write.
	var edited served
	waitFor(t, "the edit to assume the new role", func() bool {
		e.writeConfig(t, strings.Replace(roleConfig, "role/UpdateApp", "role/Deploy", 1))
		edited = d.credentials(t, prod)
		return edited != before
	})
	if edited.RoleArn != "arn:aws:iam::999999999999:role/Deploy" {
		t.Errorf("RoleArn = %q after the edit, want role/Deploy", edited.RoleArn)
	}
	if arn := e.callerARN(t, prodEnv); !strings.HasPrefix(arn, "arn:aws:sts::999999999999:assumed-role/Deploy/") {
		t.Errorf("aws sts get-caller-identity after the edit, with the variables from before: Arn = %q, want assumed-role/Deploy/…", arn)
	}

	d.signal(t, syscall.SIGHUP)
	waitFor(t, "the reload after SIGHUP to refresh the profile", func() bool {
		return d.credentials(t, prod) != edited
	})
	if after := d.credentials(t, prod); after.RoleArn != "arn:aws:iam::999999999999:role/Deploy" {
		t.Errorf("RoleArn = %q after SIGHUP, want role/Deploy", after.RoleArn)
	}
	calls := proxy.callsOf("AssumeRole")
	if len(calls) != 3 || calls[0].Get("RoleArn") != "arn:aws:iam::999999999999:role/UpdateApp" ||
		calls[1].Get("RoleArn") != "arn:aws:iam::999999999999:role/Deploy" || calls[2].Get("RoleArn") != "arn:aws:iam::999999999999:role/Deploy" {
		t.Errorf("AssumeRole calls %v, want one for UpdateApp, one for Deploy after the edit, one for Deploy after SIGHUP", calls)
	}

	// Still the same daemon, endpoint and token.
	select {
	case <-d.exited:
		t.Fatalf("brokerd exited on SIGHUP (%v):\n%s", d.waitErr, d.log())
	default:
	}
	token, err := os.ReadFile(filepath.Join(e.StateDir, "token"))
	if err != nil || string(token) != d.Token {
		t.Errorf("token file after SIGHUP: %v, want the token from the start unchanged", err)
	}
	if st := e.status(t); st.PID != d.PID || st.Endpoint != d.URL {
		t.Errorf("brokerd status after SIGHUP: pid %d at %s, want pid %d at %s", st.PID, st.Endpoint, d.PID, d.URL)
	}
	if !strings.Contains(d.log(), "reloaded the config file") {
		t.Errorf("the log does not record the reload:\n%s", d.log())
	}
}

// TestDoctor runs `brokerd doctor` in shells set up right and wrong: exit 0
// when SDKs will use brokerd, otherwise non-zero with the exact fix.
func TestDoctor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig+`
[profile {prod}-cli]
credential_process = `+brokerdBin+` credential-process {prod}
`)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	failed := "doctor found problems: see the fixes above"

	t.Run("no daemon", func(t *testing.T) {
		r := e.run(t, "", "doctor")
		wantOneLineError(t, r, failed)
		if !strings.Contains(r.stdout, "fix: brokerd install (as a user service) or brokerd serve (in a terminal)") {
			t.Errorf("brokerd doctor without a daemon printed:\n%s\nwant the fix to start one", r.stdout)
		}
	})

	e.startDaemon(t)
	good := parseExports(t, e.mustRun(t, "", "env", prod))
	with := func(extra map[string]string) map[string]string {
		vars := maps.Clone(good)
		maps.Copy(vars, extra)
		return vars
	}

	t.Run("set up right", func(t *testing.T) {
		r := e.exec(t, good, "", brokerdBin, "doctor")
		if r.code != 0 || strings.Contains(r.stdout, "FAIL") {
			t.Fatalf("brokerd doctor in a shell set up with brokerd env: %v\nwant exit 0 and no FAIL", r)
		}
		for _, want := range []string{"ok    daemon: serving", "ok    environment: SDKs in this shell get credentials from " + good["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "ok    shadowing:", "ok    keychain:"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("brokerd doctor printed:\n%s\nwant a line with %q", r.stdout, want)
			}
		}
	})
	t.Run("AWS_PROFILE of brokerd credential-process", func(t *testing.T) {
		r := e.exec(t, with(map[string]string{"AWS_PROFILE": prod + "-cli"}), "", brokerdBin, "doctor")
		if r.code != 0 {
			t.Errorf("brokerd doctor with AWS_PROFILE naming a credential_process of brokerd: %v, want exit 0", r)
		}
	})
	tests := []struct {
		name  string
		extra map[string]string
		fix   string
	}{
		{"AWS_PROFILE", with(map[string]string{"AWS_PROFILE": "x"}), "fix: unset AWS_PROFILE"},
		{"AWS_ACCESS_KEY_ID", with(map[string]string{"AWS_ACCESS_KEY_ID": randomKeys(t).ID}), "fix: unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN"},
		{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", with(map[string]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}), "fix: unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"},
		{"no endpoint variables", nil, `fix: eval "$(brokerd env)"`},
		{"stale endpoint", with(map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/v1/credentials"}), `fix: eval "$(brokerd env)"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.exec(t, tt.extra, "", brokerdBin, "doctor")
			wantOneLineError(t, r, failed)
			if !strings.Contains(r.stdout, tt.fix) {
				t.Errorf("brokerd doctor printed:\n%s\nwant %q", r.stdout, tt.fix)
			}
		})
	}
}

// TestInstallDryRun runs `brokerd install --dry-run` and `uninstall
// --dry-run` with a scratch HOME and XDG_CONFIG_HOME, and a systemctl on
// PATH that records being run: they print the unit's path, its content and
// the systemctl commands, and neither writes a file nor runs a command.
func TestInstallDryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home, configHome := t.TempDir(), t.TempDir()
	tripwire := t.TempDir()
	ran := filepath.Join(tripwire, "ran")
	for _, tool := range []string{"systemctl", "launchctl"} {
		script := "#!/bin/sh\necho " + tool + " \"$@\" >>" + ran + "\n"
		if err := os.WriteFile(filepath.Join(tripwire, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{
		"HOME":            home,
		"XDG_CONFIG_HOME": configHome,
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"PATH":            tripwire + string(os.PathListSeparator) + e.vars["PATH"],
		"SUDO_USER":       "", // as a user runs it; see "under sudo"
		"GOTMPDIR":        "",
	}
	// brokerd refuses to install a binary from the temporary directory,
	// where the test built it: TMPDIR elsewhere makes it acceptable.
	installVars := maps.Clone(vars)
	installVars["TMPDIR"] = t.TempDir()
	bin, err := filepath.EvalSymlinks(brokerdBin)
	if err != nil {
		t.Fatal(err)
	}
	// install serves the config's profile "default" unless told another.
	e.writeConfig(t, "[default]\nregion = eu-west-1\n\n[profile {prod}]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = default\n")
	unit := filepath.Join(home, ".config", "systemd", "user", "brokerd.service")
	envFile := filepath.Join(home, ".config", "environment.d", "60-brokerd.conf")
	token := filepath.Join(e.StateDir, "token")

	t.Run("install", func(t *testing.T) {
		out := e.mustExec(t, installVars, "", brokerdBin, "install", "--dry-run")
		for _, want := range []string{
			"# brokerd install --dry-run (linux): what it would do, in order; nothing has been done.\n",
			"write " + unit + " (mode 0644; new parent directories 0700):\n",
			"\n    Type=notify\n",
			"\n    ExecStart=" + bin + " serve\n",
			"\n    ExecReload=/bin/kill -HUP $MAINPID\n",
			"\n    Environment=BROKERD_STATE_DIR=" + e.StateDir + "\n",
			"write " + envFile + " (mode 0644; new parent directories 0700):\n",
			"\n    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9911/v1/credentials\n",
			"\n    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + token + "\n",
			"\n    BROKERD_PROFILE=default\n    AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-eu-west-1}}\n",
			"\nrun systemctl --user daemon-reload\n" +
				"run systemctl --user enable brokerd.service  # undone by systemctl --user disable --now brokerd.service should a later step fail\n" +
				"run systemctl --user restart brokerd.service\n",
			"\n    eval \"$(brokerd env)\"\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("brokerd install --dry-run printed:\n%s\nwant it to contain %q", out, want)
			}
		}
	})
	t.Run("install with flags", func(t *testing.T) {
		prod := e.profile("prod")
		out := e.mustExec(t, installVars, "", brokerdBin, "install", "--dry-run", "--listen", "127.0.0.1:9922", "--default-profile", prod)
		for _, want := range []string{
			"\n    ExecStart=" + bin + " serve --listen 127.0.0.1:9922 --default-profile " + prod + "\n",
			"\n    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9922/v1/credentials\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("brokerd install --dry-run --listen … --default-profile … printed:\n%s\nwant it to contain %q", out, want)
			}
		}
	})
	t.Run("install from a temporary directory", func(t *testing.T) {
		r := e.exec(t, vars, "", brokerdBin, "install", "--dry-run")
		wantOneLineError(t, r, "brokerd is running from a temporary directory")
	})
	if os.Getuid() == 0 {
		t.Run("under sudo", func(t *testing.T) {
			sudo := maps.Clone(installVars)
			sudo["SUDO_USER"] = "alice"
			for _, cmd := range []string{"install", "uninstall"} {
				wantOneLineError(t, e.exec(t, sudo, "", brokerdBin, cmd, "--dry-run"), "run `brokerd "+cmd+"` as alice, without sudo")
			}
		})
	}
	t.Run("uninstall", func(t *testing.T) {
		out := e.mustExec(t, vars, "", brokerdBin, "uninstall", "--dry-run")
		want := "# brokerd uninstall --dry-run (linux): what it would do, in order; nothing has been done.\n\n" +
			"run systemctl --user disable --now brokerd.service  # a failure is fine: nothing to disable\n" +
			"remove " + filepath.Join(home, ".config", "systemd", "user", "default.target.wants", "brokerd.service") + " (if present)\n" +
			"remove " + unit + " (if present)\n" +
			"remove " + envFile + " (if present)\n" +
			"run systemctl --user daemon-reload  # a failure is fine: no user manager to reload\n" +
			"run systemctl --user unset-environment AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE BROKERD_PROFILE  # a failure is fine: no user manager to tell\n"
		if !strings.HasPrefix(out, want) {
			t.Errorf("brokerd uninstall --dry-run printed:\n%s\nwant it to start with\n%s", out, want)
		}
	})

	for _, dir := range []string{home, configHome} {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
			t.Errorf("%s holds %v (%v) after dry runs, want nothing", dir, entries, err)
		}
	}
	if b, err := os.ReadFile(ran); err == nil {
		t.Errorf("dry runs ran:\n%s", b)
	}
	if _, err := os.Stat(e.StateDir); err == nil {
		t.Errorf("dry runs created the state directory %s", e.StateDir)
	}
}
