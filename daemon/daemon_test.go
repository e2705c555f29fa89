package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/state"
)

// Every test must leave no goroutine behind: Run and the service own them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeKeychain holds keys and sessions in memory and counts key reads.
type fakeKeychain struct {
	mu       sync.Mutex
	keys     map[string]keychain.Keys
	sessions map[string]keychain.Session
	reads    atomic.Int64
}

var _ Keychain = (*fakeKeychain)(nil)

func newFakeKeychain() *fakeKeychain {
	return &fakeKeychain{
		keys:     map[string]keychain.Keys{"dev": {AccessKeyID: "AKIAAAAAAAAAAAAAAAAA", SecretAccessKey: strings.Repeat("s", 40)}},
		sessions: map[string]keychain.Session{},
	}
}

func (k *fakeKeychain) Keys(_ context.Context, name string) (keychain.Keys, error) {
	k.reads.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.keys[name]
	if !ok {
		return keychain.Keys{}, fmt.Errorf("read keys of %q: %w", name, keychain.ErrNotFound)
	}
	return v, nil
}

func (k *fakeKeychain) remove(name string) {
	k.mu.Lock()
	delete(k.keys, name)
	k.mu.Unlock()
}

func (k *fakeKeychain) Session(_ context.Context, name string) (keychain.Session, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sessions[name]
	if !ok {
		return keychain.Session{}, keychain.ErrNotFound
	}
	return s, nil
}

func (k *fakeKeychain) SetSession(_ context.Context, name string, s keychain.Session) error {
	k.mu.Lock()
	k.sessions[name] = s
	k.mu.Unlock()
	return nil
}

func (k *fakeKeychain) DeleteSession(_ context.Context, name string) error {
	k.mu.Lock()
	delete(k.sessions, name)
	k.mu.Unlock()
	return nil
}

func (k *fakeKeychain) Profiles(context.Context) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var names []string
	for n := range k.keys {
		names = append(names, n)
	}
	return names, nil
}

// fakeSTS answers AssumeRole and GetSessionToken with hour-long
// credentials and counts the calls by action.
type fakeSTS struct {
	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	action := r.PostForm.Get("Action")
	f.mu.Lock()
	f.calls[action]++
	n := f.calls[action]
	f.mu.Unlock()
	creds := fmt.Sprintf(`<Credentials><AccessKeyId>ASIA%016d</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>`+
		`<SessionToken>token</SessionToken><Expiration>%s</Expiration></Credentials>`, n, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%sResult>%s</%sResult></%sResponse>`,
		action, action, creds, action, action)
}

func (f *fakeSTS) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}

// world is a daemon's surroundings: config file, keychain, STS, state.
type world struct {
	keys   *fakeKeychain
	sts    *fakeSTS
	config string
	state  state.Dir
}

const testConfig = `[profile dev]
mfa_serial = arn:aws:iam::111111111111:mfa/dev
[profile prod]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = dev
`

func newWorld(t *testing.T) *world {
	t.Helper()
	f := &fakeSTS{calls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "credentials"))
	config := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(config, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// A unix socket's path must fit in 108 bytes.
	short, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	dir, err := state.Open(filepath.Join(short, "s"))
	if err != nil {
		t.Fatal(err)
	}
	return &world{keys: newFakeKeychain(), sts: f, config: config, state: dir}
}

// running is a daemon started by Run in a test.
type running struct {
	endpoint state.Endpoint
	token    string
	reload   chan struct{}
	client   *control.Client
	stop     func() error
}

func (w *world) run(t *testing.T) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan state.Endpoint, 1)
	reload := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", State: w.state, Keys: w.keys, Log: zap.NewNop(),
			ConfigPath: w.config, Reload: reload, Ready: func(ep state.Endpoint) { ready <- ep }})
	}()
	var ep state.Endpoint
	select {
	case ep = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run() = %v before it served", err)
	}
	token, err := os.ReadFile(w.state.Join(state.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	r := &running{endpoint: ep, token: string(token), reload: reload, client: control.NewClient(w.state)}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			r.client.Close()
			cancel()
			stopErr = <-done
			http.DefaultClient.CloseIdleConnections()
		})
		return stopErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// get fetches the credentials of profile, returning the status and the
// error code or access key id.
func (r *running) get(t *testing.T, profile string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.endpoint.CredentialsURL(profile), nil)
	req.Header.Set("Authorization", r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ AccessKeyId, Code, Message string }
	json.NewDecoder(resp.Body).Decode(&body)
	if body.Code != "" {
		t.Logf("GET %s: %s", profile, body.Message)
	}
	return resp.StatusCode, body.AccessKeyId + body.Code
}

func TestRun_LoginReloadAndStop(t *testing.T) {
	w := newWorld(t)
	d := w.run(t)
	ctx := t.Context()

	if status, code := d.get(t, "prod"); status != 401 || code != "LoginRequired" {
		t.Fatalf("GET prod before login = %d %s, want 401 LoginRequired", status, code)
	}
	needs, err := d.client.LoginNeeds(ctx, "prod")
	if err != nil || needs.Profile != "dev" || needs.MFASerial != "arn:aws:iam::111111111111:mfa/dev" {
		t.Fatalf("LoginNeeds(prod) = %+v, %v, want dev's MFA device", needs, err)
	}
	if _, err := d.client.Login(ctx, control.Login{Profile: "prod", Code: "12345", DurationSeconds: 3600}); err == nil || !strings.Contains(err.Error(), "6 digits") {
		t.Errorf("Login with a 5-digit code = %v, want the daemon to refuse it", err)
	}
	res, err := d.client.Login(ctx, control.Login{Profile: "prod", Code: "123456", DurationSeconds: 3600})
	if err != nil || res.Profile != "dev" {
		t.Fatalf("Login(prod) = %+v, %v, want dev's session", res, err)
	}
	if status, key := d.get(t, "prod"); status != 200 || !strings.HasPrefix(key, "ASIA") {
		t.Fatalf("GET prod after login = %d %s, want credentials", status, key)
	}
	// A burst of reloads makes one more refresh of the profile in use.
	before := w.sts.count("AssumeRole")
	for range 100 {
		select {
		case d.reload <- struct{}{}:
		default:
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "the reload's refresh", func() bool { return w.sts.count("AssumeRole") > before })
	time.Sleep(500 * time.Millisecond) // room for more refreshes, were there any
	if got := w.sts.count("AssumeRole") - before; got != 1 {
		t.Errorf("AssumeRole calls after 100 reloads = %d, want 1", got)
	}
	if err := d.stop(); err != nil {
		t.Errorf("Run() after cancel = %v, want nil", err)
	}
	if _, err := os.Stat(w.state.Join(state.EndpointFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("endpoint file after stop: %v, want it removed", err)
	}
}

func TestRun_KeysRemovedDropsDerivedCredentials(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(w.config, []byte("[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n"), 0o600)
	d := w.run(t)
	if status, key := d.get(t, "prod"); status != 200 || key == "" {
		t.Fatalf("GET prod = %d %s, want credentials", status, key)
	}
	w.keys.remove("dev")
	if err := d.client.KeysChanged(t.Context(), control.KeysChange{Profile: "dev", Removed: true}); err != nil {
		t.Fatal(err)
	}
	if status, code := d.get(t, "prod"); status != 404 || code != "NoKeys" {
		t.Errorf("GET prod after its source's keys were removed = %d %s, want 404 NoKeys", status, code)
	}
}

// An edit of the config file takes effect without a SIGHUP: a profile
// whose plan changed is fetched anew at its next request, never served
// from the old plan, and the others keep their credentials.
func TestRun_ConfigEditDropsChangedProfiles(t *testing.T) {
	w := newWorld(t)
	const roles = `[profile dev]
[profile prod]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = dev
[profile deploy]
role_arn = arn:aws:iam::999999999999:role/Deploy
source_profile = dev
`
	edit := func(config string) {
		// A new file renamed over the old, as editors save.
		tmp := w.config + ".tmp"
		if err := os.WriteFile(tmp, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, w.config); err != nil {
			t.Fatal(err)
		}
	}
	edit(roles)
	d := w.run(t)
	_, prod := d.get(t, "prod")
	_, deploy := d.get(t, "deploy")
	if !strings.HasPrefix(prod, "ASIA") || !strings.HasPrefix(deploy, "ASIA") {
		t.Fatalf("GET prod, deploy = %s, %s; want credentials", prod, deploy)
	}

	// Edited again until seen: the daemon's watch may not be in place yet.
	other := strings.Replace(roles, "role/UpdateApp", "role/Other", 1)
	waitFor(t, "prod to follow its new role", func() bool {
		edit(other)
		_, key := d.get(t, "prod")
		return key != prod
	})
	if _, key := d.get(t, "deploy"); key != deploy {
		t.Errorf("GET deploy after an edit of prod = %s, want its credentials kept (%s)", key, deploy)
	}
	if got := w.sts.count("AssumeRole"); got != 3 {
		t.Errorf("AssumeRole calls = %d, want 3: prod, deploy, prod's new role", got)
	}

	// MFA now required: nothing fetched without it is served.
	withMFA := strings.Replace(roles, "[profile dev]\n", "[profile dev]\nmfa_serial = arn:aws:iam::111111111111:mfa/dev\n", 1)
	waitFor(t, "the profiles to need a login", func() bool {
		edit(withMFA)
		status, code := d.get(t, "deploy")
		return status == 401 && code == "LoginRequired"
	})
	if status, code := d.get(t, "prod"); status != 401 || code != "LoginRequired" {
		t.Errorf("GET prod once dev needs MFA = %d %s, want 401 LoginRequired", status, code)
	}
}

func TestService_LoginResolvesProfileOnce(t *testing.T) {
	w := newWorld(t)
	var loads atomic.Int64
	svc := newTestService(t, w, func(path string) (*profile.Config, error) {
		loads.Add(1)
		return profile.Load(path)
	})
	// Warm the config as a running daemon has it, then count one login.
	if _, err := svc.broker.Profiles(); err != nil {
		t.Fatal(err)
	}
	loads.Store(0)
	w.keys.reads.Store(0)
	if _, err := svc.Login(t.Context(), control.Login{Profile: "prod", Code: "123456", DurationSeconds: 3600}); err != nil {
		t.Fatal(err)
	}
	if got := loads.Load(); got > 1 {
		t.Errorf("config loads in one login = %d, want at most 1", got)
	}
	if got := w.keys.reads.Load(); got != 1 {
		t.Errorf("keychain key reads in one login = %d, want 1", got)
	}
}

func TestService_RefusesBadNames(t *testing.T) {
	w := newWorld(t)
	svc := newTestService(t, w, nil)
	for _, name := range []string{"\xff", "a\x00b", strings.Repeat("a", 5000), "a/b"} {
		if err := svc.Refresh(t.Context(), name); err == nil || !strings.Contains(err.Error(), "profile name") {
			t.Errorf("Refresh(%q) = %v, want the name refused", name, err)
		}
	}
	if got := w.keys.reads.Load(); got != 0 {
		t.Errorf("keychain reads for bad names = %d, want 0", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// What a login would refuse is refused before anyone types a code: a name
// in neither the config file nor the keychain, a source without an MFA
// device. Logging out of a name that does not exist says so.
func TestService_LoginNeedsRefusesEarly(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(w.config, []byte("[profile dev]\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n"), 0o600)
	svc := newTestService(t, w, nil)
	ctx := t.Context()
	for _, tt := range []struct {
		name string
		kind fault.Kind
		says string
	}{
		{"prd", fault.NotFound, "not in the AWS config file"},
		{"prod", fault.InvalidConfig, "has no mfa_serial"},
	} {
		if _, err := svc.LoginNeeds(ctx, tt.name); fault.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("LoginNeeds(%q) = %v (kind %v), want kind %v saying %q", tt.name, err, fault.KindOf(err), tt.kind, tt.says)
		}
	}
	if _, err := svc.Logout(ctx, "prd"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Logout(%q) = %v, want NotFound", "prd", err)
	}
	if got := w.keys.reads.Load(); got != 0 {
		t.Errorf("keychain key reads = %d, want none: these checks need no secret", got)
	}
	// A session whose keys went while the daemon was down still closes.
	w.keys.SetSession(ctx, "ci", keychain.Session{AccessKeyID: "ASIA0000000000000009", Expires: time.Now().Add(time.Hour)})
	if src, err := svc.Logout(ctx, "ci"); err != nil || src != "ci" {
		t.Errorf("Logout(ci) with a session and no keys = %q, %v; want it closed", src, err)
	}
	// With a device on the role, LoginNeeds names it for the prompt.
	os.WriteFile(w.config, []byte("[profile dev]\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\nmfa_serial = arn:aws:iam::111111111111:mfa/dev\n"), 0o600)
	if needs, err := svc.LoginNeeds(ctx, "dev"); err != nil || needs.MFASerial != "arn:aws:iam::111111111111:mfa/dev" {
		t.Errorf("LoginNeeds(dev) = %+v, %v; want the device of the role that uses dev", needs, err)
	}
}
