//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
)

// Env is one test's private brokerd installation: its own AWS config file,
// an empty shared credentials file, a state directory and the environment
// that brokerd and the clients run with. Only the keychain is shared by all
// tests (one Secret Service), so profile names carry the test's name: write
// {dev} in writeConfig, or call e.profile("dev").
type Env struct {
	Dir        string // scratch directory, the working directory of commands
	ConfigFile string // AWS_CONFIG_FILE
	StateDir   string // BROKERD_STATE_DIR; brokerd creates it
	prefix     string
	vars       map[string]string
	// daemonPrefix runs the daemon through a command, such as prlimit,
	// that execs it.
	daemonPrefix []string
}

var envSeq atomic.Int64

// newEnv returns a new Env whose commands reach the shared moto_server as STS.
func newEnv(t testing.TB) *Env {
	t.Helper()
	dir := t.TempDir()
	// control.sock's path must fit in 108 bytes, which t.TempDir's long
	// names can exceed: keep the state directory short.
	short, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(strings.TrimPrefix(t.Name(), "Test"), "-")
	e := &Env{
		Dir:        dir,
		ConfigFile: filepath.Join(dir, "config"),
		StateDir:   filepath.Join(short, "state"),
		prefix:     fmt.Sprintf("%.30s%d", name, envSeq.Add(1)),
	}
	credentials := filepath.Join(dir, "credentials")
	for _, f := range []string{e.ConfigFile, credentials} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.vars = map[string]string{
		"AWS_CONFIG_FILE":             e.ConfigFile,
		"AWS_SHARED_CREDENTIALS_FILE": credentials,
		"BROKERD_STATE_DIR":           e.StateDir,
		"BROKERD_AUDIT_DIR":           filepath.Join(short, "audit"),
		"AWS_ENDPOINT_URL_STS":        openSTS.URL,
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1", // botocore reads this one
		"AWS_EC2_METADATA_DISABLED":   "true",
		// A race-enabled brokerd otherwise sleeps 1 s at exit.
		"GORACE": "atexit_sleep_ms=0",
		"PATH":   filepath.Dir(brokerdBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	return e
}

// profile returns the test's keychain-unique name for profile name.
func (e *Env) profile(name string) string { return e.prefix + "-" + name }

// setenv sets a variable for the commands and daemons started from now on,
// such as AWS_ENDPOINT_URL_STS to point a daemon at another STS.
func (e *Env) setenv(key, value string) { e.vars[key] = value }

var placeholder = regexp.MustCompile(`\{([A-Za-z0-9_-]+)\}`)

// writeConfig writes the AWS config file; {name} stands for e.profile(name).
func (e *Env) writeConfig(t testing.TB, text string) {
	t.Helper()
	text = placeholder.ReplaceAllStringFunc(text, func(m string) string { return e.profile(m[1 : len(m)-1]) })
	if err := os.WriteFile(e.ConfigFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// environ is the environment of commands: this process's, without any AWS_
// or BROKERD_ variable (AWS_PROFILE, keys, AWS_CONTAINER_* and the like
// would shadow or redirect what is tested) or proxy setting, plus e's
// variables and extra.
func (e *Env) environ(extra map[string]string) []string {
	vars := maps.Clone(e.vars)
	maps.Copy(vars, extra)
	return cleanEnviron(vars)
}

// cleanEnviron is os.Environ without AWS_, BROKERD_ and proxy variables,
// plus vars.
func cleanEnviron(vars map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		drop := strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BROKERD_") ||
			strings.HasSuffix(strings.ToUpper(k), "_PROXY")
		if _, set := vars[k]; !drop && !set {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// result is what a command printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs brokerd with args, stdin as its standard input (a pipe, not a
// terminal). It fails the test when brokerd cannot start or runs for more
// than a minute; the exit code is the caller's to judge.
func (e *Env) run(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	if len(args) >= 2 && args[0] == "keys" && slices.Contains([]string{"add", "remove", "import", "rotate"}, args[1]) {
		// brokerd lists the profiles with keys in one keychain item that
		// these commands read, change and write back under a lock file in
		// the state directory; each test has its own, and all share one
		// keychain, so two at once can lose an entry: tests take turns.
		keychainWrites.Lock()
		defer keychainWrites.Unlock()
	}
	return e.exec(t, nil, stdin, brokerdBin, args...)
}

// keychainWrites serializes the commands that rewrite brokerd's keychain
// index (see run).
var keychainWrites sync.Mutex

// mustRun runs brokerd and returns its standard output; it fails the test
// unless brokerd exits 0.
func (e *Env) mustRun(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	r := e.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("brokerd %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// exec runs any program (aws, python3, sh) in e's environment plus extra.
func (e *Env) exec(t testing.TB, extra map[string]string, stdin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = e.environ(extra)
	cmd.Dir = e.Dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s ran for more than a minute: %v", name, strings.Join(args, " "), r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

// mustExec is exec that fails the test unless the program exits 0.
func (e *Env) mustExec(t testing.TB, extra map[string]string, stdin, name string, args ...string) string {
	t.Helper()
	r := e.exec(t, extra, stdin, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// keyPair is a long-term access key.
type keyPair struct{ ID, Secret string }

// stdin is what `brokerd keys add` reads: the id, then the secret.
func (k keyPair) stdin() string { return k.ID + "\n" + k.Secret + "\n" }

// masked is the key id as brokerd shows it: AKIA…WXYZ.
func (k keyPair) masked() string { return mask(k.ID) }

func mask(id string) string { return id[:4] + "…" + id[len(id)-4:] }

var (
	keyIDShape  = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	secretShape = regexp.MustCompile(`^[A-Za-z0-9/+]{40}$`)
)

func (k keyPair) check() error {
	if !keyIDShape.MatchString(k.ID) || !secretShape.MatchString(k.Secret) {
		return fmt.Errorf("key id of %d characters or secret of %d characters is not in IAM's shape", len(k.ID), len(k.Secret))
	}
	return nil
}

// randomKeys returns a key pair in IAM's shape that no other test uses.
func randomKeys(t testing.TB) keyPair {
	t.Helper()
	b := make([]byte, 40)
	rand.Read(b)
	k := keyPair{
		ID:     "AKIA" + base32.StdEncoding.EncodeToString(b[:10]), // 16 of A-Z2-7
		Secret: base64.StdEncoding.EncodeToString(b[10:]),          // 40 of A-Za-z0-9+/
	}
	if err := k.check(); err != nil {
		t.Fatal(err)
	}
	return k
}

// randomToken returns a string shaped like brokerd's auth token.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// addKeys stores k for profile with `brokerd keys add` and removes it from
// the keychain when the test ends.
func (e *Env) addKeys(t testing.TB, profile string, k keyPair) {
	t.Helper()
	t.Cleanup(func() { e.run(t, "", "keys", "remove", profile) })
	out := e.mustRun(t, k.stdin(), "keys", "add", profile)
	if want := "stored keys " + k.masked() + " for profile " + profile; !strings.Contains(out, want) {
		t.Fatalf("brokerd keys add %s printed %q, want it to contain %q", profile, out, want)
	}
}

// replaceKeys stores k for profile, which has other keys, with `brokerd
// keys add --replace`.
func (e *Env) replaceKeys(t testing.TB, profile string, k keyPair) {
	t.Helper()
	out := e.mustRun(t, k.stdin(), "keys", "add", profile, "--replace")
	if want := "stored keys " + k.masked() + " for profile " + profile; !strings.Contains(out, want) {
		t.Fatalf("brokerd keys add %s --replace printed %q, want it to contain %q", profile, out, want)
	}
}

// status returns `brokerd status --json`.
func (e *Env) status(t testing.TB) control.Status {
	t.Helper()
	var st control.Status
	out := e.mustRun(t, "", "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("brokerd status --json printed %q: %v", out, err)
	}
	return st
}

// profileStatus returns the status of one profile, failing the test when
// the daemon does not list it.
func profileStatus(t testing.TB, st control.Status, name string) control.Profile {
	t.Helper()
	for _, p := range st.Profiles {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("brokerd status does not list profile %s: %+v", name, st.Profiles)
	return control.Profile{}
}

// Daemon is a running `brokerd serve`.
type Daemon struct {
	URL   string            // http://127.0.0.1:PORT, from the state directory
	Addr  string            // 127.0.0.1:PORT
	Port  string            // PORT
	PID   int               // the process id
	Token string            // the auth token, from the token file
	Env   map[string]string // what `brokerd env` exports (the default profile)
	// Started is when the test started it: its audit events come after.
	Started time.Time

	e       *Env
	cmd     *exec.Cmd
	output  syncBuffer
	exited  chan struct{}
	waitErr error
	stopped bool
}

// startDaemon starts `brokerd serve --listen 127.0.0.1:0` with extra args
// (a later --listen wins), waits until `brokerd env` finds it, and stops
// it when the test ends, failing the test unless it exits 0.
func (e *Env) startDaemon(t testing.TB, args ...string) *Daemon {
	t.Helper()
	d := &Daemon{e: e, exited: make(chan struct{}), Started: time.Now()}
	argv := append(append(slices.Clone(e.daemonPrefix), brokerdBin, "serve", "--listen", "127.0.0.1:0"), args...)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = e.environ(nil)
	d.cmd.Dir = e.Dir
	d.cmd.Stdout, d.cmd.Stderr = &d.output, &d.output
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start brokerd serve: %v", err)
	}
	d.PID = d.cmd.Process.Pid
	go func() { d.waitErr = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { d.stop(t) })

	deadline := time.Now().Add(30 * time.Second)
	for !d.published() {
		select {
		case <-d.exited:
			t.Fatalf("brokerd serve exited before serving (%v); output:\n%s", d.waitErr, d.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokerd serve did not publish its endpoint within 30 s; output:\n%s", d.log())
		}
	}
	d.Env = parseExports(t, e.mustRun(t, "", "env"))
	d.URL = strings.TrimSuffix(d.Env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "/v1/credentials")
	d.Addr = strings.TrimPrefix(d.URL, "http://")
	_, d.Port, _ = strings.Cut(d.Addr, ":")
	token, err := os.ReadFile(filepath.Join(e.StateDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	d.Token = string(token)
	return d
}

// published reports whether this daemon's endpoint file is in place.
func (d *Daemon) published() bool {
	b, err := os.ReadFile(filepath.Join(d.e.StateDir, "endpoint.json"))
	if err != nil {
		return false
	}
	var ep struct{ PID int }
	return json.Unmarshal(b, &ep) == nil && ep.PID == d.PID
}

// log returns what the daemon printed so far (its log is on stderr).
func (d *Daemon) log() string { return d.output.String() }

// signal sends sig to the daemon.
func (d *Daemon) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal brokerd: %v", err)
	}
}

// stop sends SIGTERM and fails the test unless the daemon exits 0 within
// 5 s without reporting a data race. Stopping twice does nothing.
func (d *Daemon) stop(t testing.TB) {
	t.Helper()
	if d.stopped {
		return
	}
	d.stopped = true
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("send SIGTERM to brokerd: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("brokerd serve did not exit within 5 s of SIGTERM; output:\n%s", d.log())
		return
	}
	if d.waitErr != nil {
		t.Errorf("brokerd serve ended with %v after SIGTERM, want exit status 0; output:\n%s", d.waitErr, d.log())
	}
	if strings.Contains(d.log(), "WARNING: DATA RACE") {
		t.Errorf("brokerd serve reported a data race:\n%s", d.log())
	}
	if d.waitErr == nil {
		d.checkAudit(t)
	}
}

// httpClient talks to daemons. It ignores proxy settings and keeps enough
// idle connections for bursts of requests.
var httpClient = &http.Client{
	Timeout:   time.Minute,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256},
}

// response is a daemon's answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// request sends method path to the daemon with its auth token; edit, when
// not nil, changes the request first (drop or replace headers, set Host).
//
// A 503 saying the credentials are still being fetched (the daemon waits
// for STS about a second, and a cold fetch on a loaded test machine can take
// longer) is retried, as the SDKs retry a 503; requestOnce does not.
func (d *Daemon) request(method, path string, edit func(*http.Request)) (response, error) {
	for i := 0; ; i++ {
		r, err := d.requestOnce(method, path, edit)
		if err != nil || i == 20 || r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte("still being fetched")) {
			return r, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requestOnce is request without retries.
func (d *Daemon) requestOnce(method, path string, edit func(*http.Request)) (response, error) {
	req, err := http.NewRequest(method, d.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", d.Token)
	req.Header.Set("Accept", "application/json")
	if edit != nil {
		edit(req)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// get is request GET that fails the test when the daemon cannot be reached.
func (d *Daemon) get(t testing.TB, path string, edit func(*http.Request)) response {
	t.Helper()
	r, err := d.request(http.MethodGet, path, edit)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// served is the body of a credentials response.
type served struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
	AccountID       string `json:"AccountId"`
	RoleArn         string `json:"RoleArn"`
}

// decodeCredentials checks a credentials response as the SDKs read it:
// status exactly 200, JSON with all four fields that botocore and the JS SDK
// require, Expiration in UTC with a Z and more than 15 minutes away (else
// botocore and Java refresh on almost every call).
func decodeCredentials(r response) (served, error) {
	var c served
	if r.status != http.StatusOK {
		return c, fmt.Errorf("got %v, want 200", r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		return c, fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, &c); err != nil {
		return c, fmt.Errorf("decode %s: %v", r.body, err)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.Token == "" {
		return c, fmt.Errorf("credentials lack a field: %s", r.body)
	}
	exp, err := time.Parse("2006-01-02T15:04:05Z", c.Expiration)
	if err != nil {
		return c, fmt.Errorf("Expiration %q is not YYYY-MM-DDTHH:MM:SSZ", c.Expiration)
	}
	if left := time.Until(exp); left < 15*time.Minute {
		return c, fmt.Errorf("Expiration %s leaves %v, want more than 15m", c.Expiration, left)
	}
	return c, nil
}

// credentials gets profile's credentials from the daemon, failing the test
// unless they are served as the SDKs need them.
func (d *Daemon) credentials(t testing.TB, profile string) served {
	t.Helper()
	c, err := decodeCredentials(d.get(t, "/v1/credentials/"+profile, nil))
	if err != nil {
		t.Fatalf("GET /v1/credentials/%s: %v", profile, err)
	}
	return c
}

// wantAPIError checks that r is the JSON error {"code","message"} the SDKs
// read, with status and code, and a message containing phrase (what the
// person should do).
func wantAPIError(t testing.TB, r response, status int, code, phrase string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	if keys := slices.Sorted(maps.Keys(body)); !slices.Equal(keys, []string{"code", "message"}) {
		t.Errorf("body has fields %v, want exactly code and message: %s", keys, r.body)
	}
	if body["code"] != code {
		t.Errorf("code = %v, want %s (body %s)", body["code"], code, r.body)
	}
	msg, _ := body["message"].(string)
	if !strings.Contains(msg, phrase) {
		t.Errorf("message = %q, want it to say %q", msg, phrase)
	}
}

// parseExports reads `brokerd env` output, lines of `export NAME=VALUE`
// with VALUE quoted as a POSIX shell reads it.
func parseExports(t testing.TB, out string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Fatalf("brokerd env printed %q, want only export NAME=VALUE lines", out)
		}
		vars[k] = shellUnquote(t, v)
	}
	for _, k := range []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"} {
		if vars[k] == "" {
			t.Fatalf("brokerd env printed %q, want an export of %s", out, k)
		}
	}
	return vars
}

// shellUnquote undoes POSIX shell single quotes and backslashes.
func shellUnquote(t testing.TB, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				t.Fatalf("unterminated quote in %q", s)
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '\\':
			i++
			if i < len(s) {
				b.WriteByte(s[i])
			}
		case ' ', '\t', '"', '$', '`', ';', '&', '|', '<', '>', '(', ')', '*', '?':
			t.Fatalf("unquoted %q in %q would not survive eval", s[i], s)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// wantOneLineError checks that a command failed with one line on standard
// error, naming brokerd and containing phrase.
func wantOneLineError(t testing.TB, r result, phrase string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("exit status 0, want failure; %v", r)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "brokerd: ") {
		t.Errorf("stderr = %q, want one line starting with \"brokerd: \"", r.stderr)
	}
	if !strings.Contains(line, phrase) {
		t.Errorf("stderr = %q, want it to say %q", r.stderr, phrase)
	}
}

// callerARN runs `aws sts get-caller-identity` with extra (the container
// credentials variables) and returns the ARN it prints.
func (e *Env) callerARN(t testing.TB, extra map[string]string) string {
	t.Helper()
	out := e.mustExec(t, extra, "", "aws", "sts", "get-caller-identity", "--output", "json")
	var id struct{ Arn string }
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		t.Fatalf("aws sts get-caller-identity printed %q: %v", out, err)
	}
	return id.Arn
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond every 50 ms until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10 s waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
