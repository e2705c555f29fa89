package daemon

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/internal/ssofake"
	"github.com/brokerd/brokerd/keychain"
)

// macKeychain is a keychain.Backend that refuses what go-keyring's macOS
// backend refuses: an item whose `security -i` command line, the secret
// base64'd with a prefix and quoted, exceeds 4096 bytes (ErrSetDataTooBig).
// While locked it answers every call as a locked login keychain does;
// while it refuses writes, only Set and Delete (locked between the read
// and the write of a refresh).
type macKeychain struct {
	mu           sync.Mutex
	items        map[[2]string]string
	locked       bool
	refuseWrites bool
	longest      int // the longest command line of an item stored
}

var _ keychain.Backend = (*macKeychain)(nil)

func newMacKeychain() *macKeychain { return &macKeychain{items: map[[2]string]string{}} }

// errInteraction is what /usr/bin/security says of a locked keychain.
var errInteraction = errors.New("User interaction is not allowed.")

func (k *macKeychain) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locked {
		return "", errInteraction
	}
	v, ok := k.items[[2]string{service, user}]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (k *macKeychain) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locked || k.refuseWrites {
		return errInteraction
	}
	n := len(fmt.Sprintf("add-generic-password -U -s '%s' -a '%s' -w 'go-keyring-base64:%s'\n",
		service, user, base64.StdEncoding.EncodeToString([]byte(secret))))
	if n > 4096 {
		return keyring.ErrSetDataTooBig
	}
	k.longest = max(k.longest, n)
	k.items[[2]string{service, user}] = secret
	return nil
}

func (k *macKeychain) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locked || k.refuseWrites {
		return errInteraction
	}
	if _, ok := k.items[[2]string{service, user}]; !ok {
		return keyring.ErrNotFound
	}
	delete(k.items, [2]string{service, user})
	return nil
}

func (k *macKeychain) lock(locked, refuseWrites bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.locked, k.refuseWrites = locked, refuseWrites
}

// record returns the SSO record stored for key, its parts joined.
func (k *macKeychain) record(t *testing.T, key string) map[string]any {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	blob := k.items[[2]string{keychain.SSOService, key}]
	var p struct {
		N int `json:"brokerdParts"`
	}
	if json.Unmarshal([]byte(blob), &p) == nil && p.N > 0 {
		blob = ""
		for i := 1; i <= p.N; i++ {
			blob += k.items[[2]string{keychain.SSOService, fmt.Sprintf("%s#%d", key, i)}]
		}
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(blob), &r); err != nil {
		t.Fatalf("the keychain's record of %s is not JSON: %v", key, err)
	}
	return r
}

// ssoSecret matches the tokens and client secrets that ssofake issues.
var ssoSecret = regexp.MustCompile(`ao[ar][0-9a-f]{16}|eyJraWQi|[0-9a-f]{64}`)

// checkNoSSOSecrets fails t if the daemon's logs or what status says
// hold a token or client secret.
func checkNoSSOSecrets(t *testing.T, logs *observer.ObservedLogs, st control.Status) {
	t.Helper()
	for _, e := range logs.All() {
		if line := fmt.Sprintf("%s %v", e.Message, e.ContextMap()); ssoSecret.MatchString(line) {
			t.Errorf("log entry %q holds a secret: %s", e.Message, ssoSecret.FindString(line))
		}
	}
	if b, _ := json.Marshal(st); ssoSecret.Match(b) {
		t.Errorf("status holds a secret: %s", ssoSecret.Find(b))
	}
}

// sessionStatus returns the status of SSO session name.
func sessionStatus(t *testing.T, d *running, name string) (control.Status, control.SSOSession) {
	t.Helper()
	st, err := d.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.SSOSessions {
		if s.Name == name {
			return st, s
		}
	}
	t.Fatalf("Status() lists no SSO session %s", name)
	return st, control.SSOSession{}
}

// grants counts the fake's CreateToken calls of grant type g.
func grants(fake *ssofake.Server, g string) int {
	n := 0
	for _, c := range fake.Calls() {
		if c.Op == "CreateToken" && c.GrantType == g {
			n++
		}
	}
	return n
}

// TestRun_SSORealSizesInKeychainParts checks a sign-in, refreshes and a
// restart through the daemon with tokens and a client secret as long as
// IAM Identity Center's, in a keychain that refuses items as big as
// macOS's does: the record goes in parts, each of which fits, and the
// restarted daemon refreshes with the refresh token read back from them.
func TestRun_SSORealSizesInKeychainParts(t *testing.T) {
	// Tokens of 4 minutes, under the 5 before expiry at which brokerd
	// refreshes: each use refreshes.
	w, fake := ssoWorld(t, ssofake.Config{RealSizes: true, TokenLifetime: 4 * time.Minute})
	kc := newMacKeychain()
	core, logs := observer.New(zap.DebugLevel)
	run := func() *running {
		return w.runWith(t, func(c *Config) { c.SSOTokens = keychain.New(kc).SSO(); c.Log = zap.New(core) })
	}
	d := run()
	signIn(t, d, fake, "my-sso")
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev after the sign-in = %d %s, want credentials", status, key)
	}
	if n := grants(fake, "refresh_token"); n < 1 {
		t.Fatalf("%d refreshes, want at least 1", n)
	}
	r := kc.record(t, "my-sso")
	for field, least := range map[string]int{"clientSecret": 1850, "accessToken": 1050, "refreshToken": 1050} {
		if v, _ := r[field].(string); len(v) < least {
			t.Errorf("the keychain's %s has %d characters, want a real one's (%d or more)", field, len(v), least)
		}
	}
	kc.mu.Lock()
	items, longest := len(kc.items), kc.longest
	kc.mu.Unlock()
	if items < 3 || longest > 4096 {
		t.Errorf("the keychain holds %d items, the longest stored with a command of %d bytes; want the record in parts (3 items or more), each within 4096", items, longest)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}

	before := grants(fake, "refresh_token")
	d = run()
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev after a restart = %d %s, want credentials", status, key)
	}
	if n := grants(fake, "refresh_token"); n <= before {
		t.Errorf("no refresh after the restart (%d before, %d after), want one with the refresh token read from the parts", before, n)
	}
	if n := grants(fake, "urn:ietf:params:oauth:grant-type:device_code"); n != 1 {
		t.Errorf("%d sign-ins, want 1", n)
	}
	st, s := sessionStatus(t, d, "my-sso")
	if !s.SignedIn || !s.Refreshable || s.Error != "" {
		t.Errorf("status of my-sso after a restart = %+v, want signed in and refreshable", s)
	}
	checkNoSSOSecrets(t, logs, st)
}

// TestRun_SSOTokenHeldInMemory checks that a token refreshed while the
// keychain is locked is served, that status says it is held only in
// memory, and that once the keychain is unlocked it is stored, so that a
// restart needs no new sign-in.
func TestRun_SSOTokenHeldInMemory(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{RealSizes: true, TokenLifetime: 4 * time.Minute})
	kc := newMacKeychain()
	core, logs := observer.New(zap.DebugLevel)
	run := func() *running {
		return w.runWith(t, func(c *Config) { c.SSOTokens = keychain.New(kc).SSO(); c.Log = zap.New(core) })
	}
	d := run()
	signIn(t, d, fake, "my-sso")

	// Locked between the read and the write of the refresh: the refresh
	// token read is spent, and the new one held in memory.
	kc.lock(false, true)
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev with the keychain refusing writes = %d %s, want credentials from the refreshed token", status, key)
	}
	kc.lock(true, true) // and reads: the token held in memory serves
	st, s := sessionStatus(t, d, "my-sso")
	if !s.SignedIn || s.Expires == nil || !strings.Contains(s.Error, "held only in memory") || !strings.Contains(s.Error, "brokerd login my-sso") {
		t.Errorf("status of my-sso with its token held in memory = %+v, want signed in, and the error that it is held only in memory", s)
	}
	if logs.FilterMessageSnippet("held only in memory").FilterLevelExact(zap.WarnLevel).Len() == 0 {
		t.Error("the daemon did not log that the session is held only in memory")
	}
	checkNoSSOSecrets(t, logs, st)

	kc.lock(false, false)
	if _, s := sessionStatus(t, d, "my-sso"); !s.SignedIn || s.Error != "" {
		t.Errorf("status of my-sso with the keychain unlocked = %+v, want signed in, without an error", s)
	}
	stored, _ := kc.record(t, "my-sso")["refreshToken"].(string)
	if err := d.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	d = run()
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev after a restart = %d %s, want credentials without a new sign-in", status, key)
	}
	if now, _ := kc.record(t, "my-sso")["refreshToken"].(string); now == stored {
		t.Error("the restarted daemon did not refresh the token with the refresh token stored")
	}
	st, _ = sessionStatus(t, d, "my-sso")
	checkNoSSOSecrets(t, logs, st)
}

// TestRun_SSOTokenHeldInMemoryStoredAtStop stops the daemon while a token
// refreshed with the keychain refusing writes is held only in memory: the
// daemon stores it as it stops, and the next start serves without a new
// sign-in (the refresh token stored before was spent).
func TestRun_SSOTokenHeldInMemoryStoredAtStop(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{RealSizes: true, TokenLifetime: 4 * time.Minute})
	kc := newMacKeychain()
	run := func() *running {
		return w.runWith(t, func(c *Config) { c.SSOTokens = keychain.New(kc).SSO() })
	}
	d := run()
	signIn(t, d, fake, "my-sso")
	kc.lock(false, true)
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev with the keychain refusing writes = %d %s, want credentials from the refreshed token", status, key)
	}
	spent, _ := kc.record(t, "my-sso")["refreshToken"].(string)
	kc.lock(false, false)
	if err := d.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if now, _ := kc.record(t, "my-sso")["refreshToken"].(string); now == spent {
		t.Fatal("the daemon stopped without storing the token it held only in memory")
	}
	d = run()
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev after a restart = %d %s, want credentials without a new sign-in", status, key)
	}
}

// TestRun_SSOTokenNotStoredAtStop stops the daemon while a token held only
// in memory cannot be stored either: it warns that the session needs a
// new sign-in, and "stopped" is still its last line, which is what says
// that it stopped cleanly.
func TestRun_SSOTokenNotStoredAtStop(t *testing.T) {
	w, fake := ssoWorld(t, ssofake.Config{RealSizes: true, TokenLifetime: 4 * time.Minute})
	kc := newMacKeychain()
	core, logs := observer.New(zap.DebugLevel)
	d := w.runWith(t, func(c *Config) { c.SSOTokens = keychain.New(kc).SSO(); c.Log = zap.New(core) })
	signIn(t, d, fake, "my-sso")
	kc.lock(false, true)
	if status, key := d.get(t, "sso-dev"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET sso-dev with the keychain refusing writes = %d %s, want credentials from the refreshed token", status, key)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if logs.FilterMessageSnippet("were not stored").FilterLevelExact(zap.WarnLevel).Len() != 1 {
		t.Error("the daemon did not warn that the token held in memory was not stored")
	}
	all := logs.All()
	if last := all[len(all)-1]; last.Message != "stopped" {
		t.Errorf("the daemon's last log line = %q, want \"stopped\"", last.Message)
	}
	st := control.Status{}
	checkNoSSOSecrets(t, logs, st)
}
