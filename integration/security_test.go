//go:build integration

package integration

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSecretsStayOut issues credentials, provokes errors, then checks that
// no secret reached the daemon's log, brokerd status (text and JSON), the
// other commands' output or the state directory (but for the token file):
// not the long-term secret, not an issued secret or session token, not the
// auth token; key ids appear masked only. It also checks the state
// directory's modes and that the endpoint listens on 127.0.0.1 only.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig+`
[profile {orphan}]
role_arn = arn:aws:iam::999999999999:role/Orphan
source_profile = {keyless}
`)
	dev, prod := e.profile("dev"), e.profile("prod")
	keys := randomKeys(t)
	outputs := map[string]string{}
	outputs["keys add"] = e.mustRun(t, keys.stdin(), "keys", "add", dev)
	t.Cleanup(func() { e.run(t, "", "keys", "remove", dev) })
	d := e.startDaemon(t, "--log-level", "debug")

	role := d.credentials(t, prod)
	role = d.credentials(t, prod) // from the cache
	source := d.credentials(t, dev)
	wrongToken := randomToken()
	for _, edit := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Authorization", wrongToken) },
		func(r *http.Request) { r.Header.Del("Authorization") },
		func(r *http.Request) { r.Host = "evil.example:" + d.Port },
		func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
	} {
		if r := d.get(t, "/v1/credentials/"+prod, edit); r.status < 400 {
			t.Fatalf("a refused request got %v", r)
		}
	}
	for _, p := range []string{e.profile("nosuch"), e.profile("orphan")} {
		if r := d.get(t, "/v1/credentials/"+p, nil); r.status != 404 {
			t.Fatalf("GET /v1/credentials/%s: %v, want 404", p, r)
		}
	}
	outputs["keys list"] = e.mustRun(t, "", "keys", "list")
	outputs["brokerd status"] = e.mustRun(t, "", "status")
	outputs["brokerd status --json"] = e.mustRun(t, "", "status", "--json")
	outputs["brokerd env"] = e.mustRun(t, "", "env", prod)

	t.Run("state directory modes", func(t *testing.T) {
		wantMode(t, e.StateDir, os.ModeDir|0o700)
		wantMode(t, filepath.Join(e.StateDir, "token"), 0o600)
		wantMode(t, filepath.Join(e.StateDir, "endpoint.json"), 0o600)
		wantMode(t, filepath.Join(e.StateDir, "control.sock"), os.ModeSocket|0o600)
		wantMode(t, filepath.Join(e.StateDir, "lock"), 0o600)
		token, err := os.ReadFile(filepath.Join(e.StateDir, "token"))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := hex.DecodeString(string(token)); err != nil || len(b) != 32 {
			t.Errorf("token file holds %q, want 64 hex digits and no newline", token)
		}
	})
	for name, text := range stateFiles(t, e.StateDir) {
		outputs["state file "+name] = text
	}

	t.Run("listens on loopback only", func(t *testing.T) {
		// [::1] too, at the same port, where this machine has IPv6: a
		// client naming localhost may try it first, and another user's
		// program there would get its token.
		want := []string{d.Addr}
		if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
			ln.Close()
			want = append(want, "[::1]:"+d.Port)
		}
		addrs := tcpListeners(t, d.PID)
		if !slices.Equal(addrs, want) || !strings.HasPrefix(d.Addr, "127.0.0.1:") {
			t.Errorf("brokerd listens on TCP %v, want %v (its endpoint is %s)", addrs, want, d.Addr)
		}
		if len(want) > 1 {
			// As a client whose localhost is [::1] first.
			r, err := d.request(http.MethodGet, "/v1/credentials/"+prod, func(r *http.Request) {
				r.URL.Host = "[::1]:" + d.Port
				r.Host = "localhost:" + d.Port
			})
			if _, derr := decodeCredentials(r); err != nil || derr != nil {
				t.Errorf("credentials over [::1] with Host localhost:%s: %v %v, want them served", d.Port, err, derr)
			}
		}
		// And is not reachable on this machine's other addresses.
		ifaddrs, _ := net.InterfaceAddrs()
		for _, a := range ifaddrs {
			ip, _, _ := net.ParseCIDR(a.String())
			if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				continue
			}
			if c, err := net.Dial("tcp", net.JoinHostPort(ip.String(), d.Port)); err == nil {
				c.Close()
				t.Errorf("brokerd's port %s answers on %s", d.Port, ip)
			}
		}
	})

	d.stop(t)
	outputs["daemon log"] = d.log()

	secrets := map[string]string{
		"long-term access key id":     keys.ID,
		"long-term secret access key": keys.Secret,
		"role access key id":          role.AccessKeyID,
		"role secret access key":      role.SecretAccessKey,
		"role session token":          role.Token,
		"source access key id":        source.AccessKeyID,
		"source secret access key":    source.SecretAccessKey,
		"source session token":        source.Token,
		"auth token":                  d.Token,
		"token sent by a client":      wrongToken,
	}
	for where, text := range outputs {
		for what, secret := range secrets {
			if part, ok := leaked(text, secret); ok {
				t.Errorf("%s contains the %s (%q):\n%s", where, what, part, text)
			}
		}
	}
	// Key ids do appear where they help a person, masked.
	if !strings.Contains(outputs["keys add"], keys.masked()) || !strings.Contains(outputs["keys list"], dev+"\t"+keys.masked()) {
		t.Errorf("keys add and keys list should show %s; they printed %q and %q", keys.masked(), outputs["keys add"], outputs["keys list"])
	}
	if want := mask(role.AccessKeyID); !strings.Contains(outputs["daemon log"], want) {
		t.Errorf("daemon log does not show the issued key as %s:\n%s", want, outputs["daemon log"])
	}
}

// leaked reports whether text contains secret, or for secrets of 40
// characters and more any piece of 30 characters or more (such as a
// truncated token), and returns what it found.
func leaked(text, secret string) (string, bool) {
	if len(secret) < 40 {
		return secret, strings.Contains(text, secret)
	}
	for i := 0; i+20 <= len(secret); i += 10 {
		if part := secret[i : i+20]; strings.Contains(text, part) {
			return part, true
		}
	}
	return "", false
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode() & (os.ModeType | os.ModePerm); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

// stateFiles returns the text of every regular file in the state
// directory but the token file, which is the auth token's place.
func stateFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() || path == filepath.Join(dir, "token") {
			return err
		}
		b, err := os.ReadFile(path)
		files[strings.TrimPrefix(path, dir+"/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["endpoint.json"]; !ok {
		t.Fatalf("state directory has no endpoint.json: %v", files)
	}
	return files
}

// tcpListeners lists the TCP addresses that process pid listens on, read
// from /proc (Linux): its socket inodes, matched to /proc/net/tcp{,6}.
func tcpListeners(t *testing.T, pid int) []string {
	t.Helper()
	inodes := socketInodes(t, pid)
	var addrs []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			const listen = "0A"
			if len(f) < 10 || f[3] != listen || !inodes[f[9]] {
				continue
			}
			addrs = append(addrs, procAddr(t, f[1]))
		}
	}
	slices.Sort(addrs)
	return addrs
}

var procAddrShape = regexp.MustCompile(`^([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})$`)

// procAddr decodes /proc/net/tcp's address form: the IP as 32-bit words in
// host (little-endian) order, the port in hex.
func procAddr(t *testing.T, s string) string {
	t.Helper()
	m := procAddrShape.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("cannot read /proc address %q", s)
	}
	raw, _ := hex.DecodeString(m[1])
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, _ := strconv.ParseUint(m[2], 16, 16)
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}
