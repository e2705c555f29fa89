//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerd/brokerd/audit"
)

// closedLine is the daemon's last word on its audit log.
var closedLine = regexp.MustCompile(`audit log closed\s+(\{.*\})`)

// checkAudit runs when any daemon of the integration run has stopped
// cleanly: every issuance it counted is in its audit log (the sum of the
// lines' counts is the daemon's own count, nothing dropped), and each one
// names its client: the process with its pid and executable on this
// machine, or the container by its id.
func (d *Daemon) checkAudit(t testing.TB) {
	t.Helper()
	m := closedLine.FindStringSubmatch(d.log())
	if m == nil {
		if strings.Contains(d.log(), "serving") && !strings.Contains(d.log(), `"audit-dir"`) {
			t.Errorf("brokerd serve did not report its audit log at exit; output:\n%s", d.log())
		}
		return
	}
	var counts struct{ Issued, Refused, Dropped int }
	if err := json.Unmarshal([]byte(m[1]), &counts); err != nil {
		t.Fatalf("audit log closed %s: %v", m[1], err)
	}
	dir := d.e.vars["BROKERD_AUDIT_DIR"]
	events, err := audit.Read(dir, audit.Filter{Since: d.Started})
	if err != nil {
		t.Errorf("read the audit log in %s: %v", dir, err)
	}
	issued, refused := 0, 0
	var unnamed []string
	for _, e := range events {
		if e.Kind == audit.Refused {
			refused += e.N()
			continue
		}
		issued += e.N()
		host := e.Client != nil && e.Client.PID > 0 && e.Client.Exe != ""
		container := e.Container != nil && len(e.Container.ID) == 64
		if !host && !container {
			b, _ := json.Marshal(e)
			unnamed = append(unnamed, string(b))
		}
	}
	if issued != counts.Issued || refused != counts.Refused || counts.Dropped != 0 {
		var lines []string
		for _, e := range events {
			b, _ := json.Marshal(e)
			lines = append(lines, string(b))
		}
		t.Errorf("the audit log holds %d issuances and %d refusals; the daemon counted %d and %d, and dropped %d; its lines since %v:\n%s\nthe daemon's log:\n%s",
			issued, refused, counts.Issued, counts.Refused, counts.Dropped, d.Started, strings.Join(lines, "\n"), d.log())
	}
	if len(unnamed) > 0 {
		t.Errorf("%d of %d audit lines of issuances name neither a process (pid and executable) nor a container:\n%s",
			len(unnamed), len(events), strings.Join(unnamed, "\n"))
	}
}

// TestAuditNamesHostClients has the aws CLI, boto3, curl and this Go
// process (with keep-alive, and a burst of new connections) fetch
// credentials, and a wrong token refused; the audit log names each by
// pid and executable, counts every issuance, and brokerd audit reads it.
func TestAuditNamesHostClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)

	if arn := e.callerARN(t, d.Env); !strings.HasPrefix(arn, assumedUpdateApp) {
		t.Fatalf("aws sts get-caller-identity = %s, want %s…", arn, assumedUpdateApp)
	}
	e.mustExec(t, d.Env, "", "python3", "-c", "import boto3; boto3.client('sts').get_caller_identity()")
	curl := e.mustExec(t, nil, "", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: "+d.Token, d.URL+"/v1/credentials/"+dev)
	bad := e.mustExec(t, nil, "", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: "+randomToken(), d.URL+"/v1/credentials/"+dev)
	if curl != "200" || bad != "403" {
		t.Fatalf("curl got %s and, with a wrong token, %s; want 200 and 403", curl, bad)
	}
	var prodKey string
	for range 5 { // one keep-alive connection
		prodKey = d.credentials(t, prod).AccessKeyID
	}
	fresh := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 50 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, d.URL+"/v1/credentials/"+prod, nil)
			req.Header.Set("Authorization", d.Token)
			resp, err := fresh.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ok != 50 {
		t.Fatalf("%d of 50 requests on new connections got credentials", ok)
	}
	served := time.Now() // every request of this test was answered before
	d.stop(t)            // checks every line (checkAudit)

	events, err := audit.Read(e.vars["BROKERD_AUDIT_DIR"], audit.Filter{Since: d.Started})
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	self, _ = filepath.EvalSymlinks(self)
	byExe := map[string]int{}
	for _, ev := range events {
		if ev.Kind == audit.Issued && ev.Client != nil {
			byExe[ev.Client.Exe] += ev.N()
		}
		if ev.Kind == audit.Refused && ev.Code == "InvalidToken" && (ev.Client == nil || filepath.Base(ev.Client.Exe) != "curl") {
			t.Errorf("the refusal of curl's wrong token names %+v", ev.Client)
		}
	}
	python := 0
	for exe, n := range byExe {
		if strings.Contains(filepath.Base(exe), "python") {
			python += n
		}
	}
	// The aws CLI and boto3 are python processes; the 5 + 50 requests of
	// this test come from this process.
	if byExe["/usr/bin/curl"] != 1 || byExe[self] != 55 || python != 2 {
		t.Errorf("issuances by executable %v, want 1 by /usr/bin/curl, 55 by %s, 2 by python", byExe, self)
	}

	// brokerd audit reads it back: JSON lines that parse, and a table.
	out := e.mustRun(t, "", "audit", "--json", "--since", "1h")
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev audit.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Time.IsZero() || ev.Kind == "" {
			t.Fatalf("brokerd audit --json printed a line that is not an event: %q (%v)", line, err)
		}
		n++
	}
	if n < len(events) {
		t.Errorf("brokerd audit --json printed %d events, want at least %d", n, len(events))
	}
	table := e.mustRun(t, "", "audit", "--profile", dev)
	if !strings.Contains(table, "/usr/bin/curl") || strings.Contains(table, prod+" ") || !strings.HasPrefix(table, "TIME") {
		t.Errorf("brokerd audit --profile %s =\n%s\nwant curl's lines of %s only", dev, table, dev)
	}
	// From the key id CloudTrail names to the processes that got it: each
	// line of brokerd audit --key shows that key, this process among them.
	byKey := e.mustRun(t, "", "audit", "--key", prodKey)
	keyLines := strings.Split(strings.TrimSpace(byKey), "\n")
	if !strings.HasPrefix(keyLines[0], "TIME") || !strings.Contains(keyLines[0], "KEY") || !strings.Contains(byKey, "pid "+strconv.Itoa(os.Getpid())+" "+self) {
		t.Errorf("brokerd audit --key %s =\n%s\nwant a table with a KEY column and this process's lines", mask(prodKey), byKey)
	}
	for _, l := range keyLines[1:] {
		if !strings.Contains(l, mask(prodKey)) || strings.Contains(l, "refused") {
			t.Errorf("brokerd audit --key %s shows %q, not an issuance of that key", mask(prodKey), l)
		}
	}
	// From the time of a call to the processes whose credentials were
	// valid then: every issuance of prod, this process's among them.
	atTable := e.mustRun(t, "", "audit", "--profile", prod, "--at", served.UTC().Format(time.RFC3339Nano))
	atLines := strings.Split(strings.TrimSpace(atTable), "\n")
	if len(atLines) < 2 || !strings.Contains(atTable, "pid "+strconv.Itoa(os.Getpid())+" "+self) {
		t.Errorf("brokerd audit --profile %s --at %v =\n%s\nwant this process's issuances among them", prod, served, atTable)
	}
	for _, l := range atLines[1:] {
		if !strings.Contains(l, "issued") || !strings.Contains(l, prod+" ") {
			t.Errorf("brokerd audit --profile %s --at shows %q, not an issuance of %s", prod, l, prod)
		}
	}
	if r := e.run(t, "", "audit", "--since", "yesterday"); r.code == 0 || !strings.Contains(r.stderr, "30m, 1h, 7d") {
		t.Errorf("brokerd audit --since yesterday: %v; want a one-line error with the forms", r)
	}
	// No secret in the audit log, and its files are private.
	dir := e.vars["BROKERD_AUDIT_DIR"]
	wantMode(t, dir, os.ModeDir|0o700)
	wantMode(t, filepath.Join(dir, audit.FileName), 0o600)
	b, _ := os.ReadFile(filepath.Join(dir, audit.FileName))
	if strings.Contains(string(b), d.Token) || strings.Contains(string(b), "SecretAccessKey") {
		t.Errorf("the audit log holds a secret:\n%s", b)
	}
}

// TestAuditSkipsBadLines: brokerd audit skips the lines of its log that
// are not events (a write cut short by a full disk) with a one-line
// warning, and shows the rest, or an empty table when none match.
func TestAuditSkipsBadLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	data := `{"time":"2026-12-01T10:00:00Z","event":"issued","profile":"dev","status":200}` + "\ngarbage\n" + `{"time":"2026-12-01T10:00:01Z","event":"iss`
	if err := os.WriteFile(filepath.Join(dir, audit.FileName), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		profile, want string
	}{
		{"dev", "issued  dev"},
		{"prod", ""},
	}
	for _, tt := range tests {
		r := e.run(t, "", "audit", "--dir", dir, "--profile", tt.profile)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || !strings.HasPrefix(lines[0], "TIME") || (tt.want == "") != (len(lines) == 1) || !strings.Contains(r.stdout, tt.want) {
			t.Errorf("brokerd audit --profile %s: %v; want the table, with %q", tt.profile, r, tt.want)
		}
		if warning := strings.TrimSuffix(r.stderr, "\n"); strings.Contains(warning, "\n") || !strings.Contains(warning, "audit.log line 2, audit.log line 3") {
			t.Errorf("brokerd audit --profile %s warned %q, want one line naming lines 2 and 3", tt.profile, r.stderr)
		}
	}
}

// TestAuditNamesExecdProgram: a process that fetched credentials and then
// runs another program in its place (exec: same pid) has that program's
// requests put down to that program, not to the one it was.
func TestAuditNamesExecdProgram(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev := e.profile("dev")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", dev)
	script := `import os, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": token})).read()
os.execv("/usr/bin/curl", ["curl", "-sf", "-o", "/dev/null", "-H", "Authorization: " + token, url])`
	e.mustExec(t, nil, "", "python3", "-c", script, d.URL+"/v1/credentials/"+dev, d.Token)
	d.stop(t)

	events, err := audit.Read(e.vars["BROKERD_AUDIT_DIR"], audit.Filter{Since: d.Started})
	if err != nil {
		t.Fatal(err)
	}
	byExe := map[string]int{} // base name to pid
	for _, ev := range events {
		if ev.Kind == audit.Issued && ev.Client != nil {
			byExe[filepath.Base(ev.Client.Exe)] = ev.Client.PID
		}
	}
	python := 0
	for exe, pid := range byExe {
		if strings.HasPrefix(exe, "python") {
			python = pid
		}
	}
	if python == 0 || byExe["curl"] != python || len(byExe) != 2 {
		t.Errorf("issuances by executable and pid %v, want python's and then curl's, one pid", byExe)
	}
}

// TestAuditDirRelative: a relative --audit-dir is the directory it names
// from where brokerd serve started, and status says so in full, so that
// brokerd audit run elsewhere reads that log rather than an empty one.
func TestAuditDirRelative(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev := e.profile("dev")
	e.addKeys(t, dev, randomKeys(t))
	want := filepath.Join(e.Dir, "relaudit")
	e.setenv("BROKERD_AUDIT_DIR", want) // where checkAudit reads
	d := e.startDaemon(t, "--default-profile", dev, "--audit-dir", "relaudit")
	d.credentials(t, dev)
	if got := e.status(t).AuditDir; got != want {
		t.Errorf("status audit_dir = %q with --audit-dir relaudit, want %q", got, want)
	}
	other := t.TempDir()
	waitFor(t, "brokerd audit run from another directory to show the issuance", func() bool {
		// The audit writes its lines apart from the request.
		r := e.exec(t, nil, "", "sh", "-c", `cd "$1" && exec "$2" audit`, "sh", other, brokerdBin)
		return r.code == 0 && strings.Contains(r.stdout, "issued")
	})
}

// floodScript opens connections to 127.0.0.1:argv[1] from 4 threads, each
// asking for credentials without the token, until its stdin closes.
const floodScript = `import socket, sys, threading
port = int(sys.argv[1])
req = ("GET /v1/credentials/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: wrong\r\nConnection: close\r\n\r\n" % port).encode()
done = threading.Event()
count = [0] * 4
def flood(i):
    while not done.is_set():
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        while s.recv(4096):
            pass
        s.close()
        count[i] += 1
threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
print("flooding", flush=True)
sys.stdin.read()
done.set()
for t in threads:
    t.join()
print(sum(count), flush=True)
`

// TestAuditFloodWithoutToken: another user on the machine floods the
// endpoint with connections that carry no token; the aws CLI that fetches
// credentials meanwhile is still named in the audit log (checkAudit, at
// stop, fails on an issuance that names no process, or on a count of
// issuances or refusals that is not the daemon's). The flood used to take every lookup, and the issuance was
// put down to no one.
func TestAuditFloodWithoutToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev := e.profile("dev")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", dev)
	flood := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"/usr/bin/python3", "-c", floodScript, d.Port)
	stdin, err := flood.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	stdout, err := flood.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	flood.Stderr = &out
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "flooding" {
		stdin.Close()
		flood.Wait()
		t.Fatalf("the flood did not start: %q %s", lines.Text(), out.String())
	}
	e.callerARN(t, d.Env)
	stdin.Close()
	lines.Scan()
	n, _ := strconv.Atoi(lines.Text())
	if err := flood.Wait(); err != nil || n == 0 {
		t.Fatalf("the flood: %v, %q %s", err, lines.Text(), out.String())
	}
	d.stop(t) // checks that every issuance names its process

	events, err := audit.Read(e.vars["BROKERD_AUDIT_DIR"], audit.Filter{Since: d.Started})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, ev := range events {
		if ev.Kind == audit.Refused {
			refused += ev.N()
		}
	}
	// A connection the flood gave up on (reset) is not in its count.
	if refused < n {
		t.Errorf("the audit log counts %d refusals, want the flood's %d at least", refused, n)
	}
}

// TestAuditNamesOtherMountNamespace: the aws CLI run in a mount namespace
// of its own (as in a container with the host's network, or a toolbox)
// is named with that namespace, in the log and in brokerd audit, since
// its executable's path is one in the container's files.
func TestAuditNamesOtherMountNamespace(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "--mount", "true").Run(); err != nil {
		t.Skipf("unshare --mount: %v (needs CAP_SYS_ADMIN)", err)
	}
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev := e.profile("dev")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", dev)
	e.mustExec(t, d.Env, "", "unshare", "--mount", "aws", "sts", "get-caller-identity")
	e.callerARN(t, d.Env) // in the daemon's namespace
	d.stop(t)

	events, err := audit.Read(e.vars["BROKERD_AUDIT_DIR"], audit.Filter{Since: d.Started})
	if err != nil {
		t.Fatal(err)
	}
	var own, other int
	var ns string
	for _, ev := range events {
		switch {
		case ev.Kind != audit.Issued || ev.Client == nil:
		case ev.Client.MountNS == "":
			own += ev.N()
		default:
			other += ev.N()
			ns = ev.Client.MountNS
		}
	}
	if own != 1 || other != 1 || !strings.HasPrefix(ns, "mnt:[") {
		t.Errorf("issuances to the daemon's mount namespace and another: %d and %d (%q), want 1 and 1", own, other, ns)
	}
	if table := e.mustRun(t, "", "audit"); !strings.Contains(table, "(in "+ns+")") {
		t.Errorf("brokerd audit =\n%s\nwant the aws CLI shown in %s", table, ns)
	}
}
