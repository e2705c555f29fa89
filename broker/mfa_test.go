package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/httperr"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/profile"
)

// mfaSTS is a fake STS that opens MFA sessions for code 123456 and
// assumes roles, recording which key signed each call.
type mfaSTS struct {
	mu      sync.Mutex
	cutOnce bool // the first GetSessionToken answer is cut while read
	calls   map[string]int
	signers []string // access key id of each AssumeRole call
	now     func() time.Time
}

func (f *mfaSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	action := r.Form.Get("Action")
	f.mu.Lock()
	f.calls[action]++
	n := f.calls[action]
	f.mu.Unlock()
	exp := f.now().Add(time.Hour).UTC().Format(time.RFC3339)
	creds := func(prefix string) string {
		return fmt.Sprintf("<Credentials><AccessKeyId>%s%016d</AccessKeyId><SecretAccessKey>secret-%s-%d</SecretAccessKey>"+
			"<SessionToken>token-%s-%d</SessionToken><Expiration>%s</Expiration></Credentials>", prefix, n, action, n, action, n, exp)
	}
	w.Header().Set("Content-Type", "text/xml")
	switch action {
	case "GetSessionToken":
		f.mu.Lock()
		cut := f.cutOnce
		f.cutOnce = false
		f.mu.Unlock()
		if cut {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 900\r\n\r\n<GetSessionTokenResponse")
				conn.(*net.TCPConn).SetLinger(0) // close with a reset
				conn.Close()
			}
			return
		}
		if r.Form.Get("TokenCode") != "123456" || r.Form.Get("SerialNumber") == "" {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>MultiFactorAuthentication failed with invalid MFA one time pass code. </Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
		exp = f.now().Add(time.Duration(atoi(r.Form.Get("DurationSeconds"))) * time.Second).UTC().Format(time.RFC3339)
		fmt.Fprintf(w, `<GetSessionTokenResponse><GetSessionTokenResult>%s</GetSessionTokenResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetSessionTokenResponse>`, creds("ASIAMFA"))
	case "AssumeRole":
		auth := r.Header.Get("Authorization")
		_, cred, _ := strings.Cut(auth, "Credential=")
		key, _, _ := strings.Cut(cred, "/")
		f.mu.Lock()
		f.signers = append(f.signers, key)
		f.mu.Unlock()
		fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult>%s<AssumedRoleUser><Arn>arn:aws:sts::999999999999:assumed-role/%s/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			creds("ASIAROL"), filepath.Base(r.Form.Get("RoleArn")))
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func atoi(s string) (n int) {
	fmt.Sscan(s, &n)
	return n
}

// sessionStore is an in-memory keychain for keys and sessions.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]keychain.Session
}

var (
	_ Keys     = (*sessionStore)(nil)
	_ Sessions = (*sessionStore)(nil)
)

func (s *sessionStore) Keys(_ context.Context, profile string) (keychain.Keys, error) {
	if profile != "dev" {
		return keychain.Keys{}, keychain.ErrNotFound
	}
	return keychain.Keys{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: strings.Repeat("k", 40)}, nil
}

func (s *sessionStore) Session(_ context.Context, profile string) (keychain.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[profile]
	if !ok {
		return keychain.Session{}, keychain.ErrNotFound
	}
	return sess, nil
}

func (s *sessionStore) SetSession(_ context.Context, profile string, sess keychain.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[profile] = sess
	return nil
}

func (s *sessionStore) DeleteSession(_ context.Context, profile string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, profile)
	return nil
}

const mfaConfig = `
[profile dev]
region = us-east-1
mfa_serial = arn:aws:iam::111111111111:mfa/alice
[profile prod]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = dev
[profile ro]
role_arn = arn:aws:iam::999999999999:role/ReadOnly
source_profile = dev
`

type mfaWorld struct {
	sts   *mfaSTS
	store *sessionStore
	clock *clockwork.FakeClock
	cfg   Config
}

func newMFAWorld(t *testing.T) *mfaWorld {
	t.Helper()
	w := &mfaWorld{clock: clockwork.NewFakeClockAt(time.Now().Round(time.Second)), store: &sessionStore{sessions: map[string]keychain.Session{}}}
	w.sts = &mfaSTS{calls: map[string]int{}, now: w.clock.Now}
	srv := httptest.NewServer(w.sts)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte(mfaConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "credentials")
	os.WriteFile(empty, nil, 0o600)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": srv.URL, "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_ENDPOINT_URL": "", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
	w.cfg = Config{ConfigPath: config, Sessions: w.store, Clock: w.clock}
	return w
}

func (w *mfaWorld) broker() *Broker { return New(w.store, w.cfg) }

// plan resolves name with b, failing the test if it cannot.
func plan(t *testing.T, b *Broker, name string) profile.Plan {
	t.Helper()
	p, err := b.Plan(name)
	if err != nil {
		t.Fatalf("Plan(%q) = %v", name, err)
	}
	return p
}

func TestLogin_WrongCode(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	_, _, err := b.Login(context.Background(), plan(t, b, "dev"), "000000", 12*time.Hour)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Refused || fe.Code != "AccessDenied" ||
		!strings.Contains(fe.Message, "wrong or already used MFA code") || !strings.Contains(fe.Message, "brokerd login dev") {
		t.Fatalf("Login(wrong code) = %v, want AccessDenied saying the code is wrong and to run brokerd login dev", err)
	}
	if status, code, _ := httperr.Answer(err); status != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("Login(wrong code) answered %d %s, want %d AccessDenied", status, code, http.StatusForbidden)
	}
	if len(w.store.sessions) != 0 {
		t.Errorf("a failed login stored a session")
	}
}

// TestLogin_STSUnreachable checks that a login to a role STS cannot be
// reached for names the source whose MFA session it opens, and says to run
// it again: nothing retries a login.
func TestLogin_STSUnreachable(t *testing.T) {
	w := newMFAWorld(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", gone.URL)
	b := w.broker()
	_, _, err := b.Login(t.Context(), plan(t, b, "prod"), "123456", time.Hour)
	status, code, msg := httperr.Answer(err)
	if status != http.StatusServiceUnavailable || code != "STSUnavailable" {
		t.Errorf("Login(%q) with STS unreachable = %v (%d %s), want 503 STSUnavailable", "prod", err, status, code)
	}
	for _, want := range []string{"cannot reach STS", `profile "dev"`, "once STS is reachable, run `brokerd login dev` again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Login(%q) with STS unreachable = %q, want %q in it", "prod", msg, want)
		}
	}
	for _, bad := range []string{`"prod"`, "brokerd retries"} {
		if strings.Contains(msg, bad) {
			t.Errorf("Login(%q) with STS unreachable = %q, want no %q in it", "prod", msg, bad)
		}
	}
	if len(w.store.sessions) != 0 {
		t.Errorf("a failed login stored a session")
	}
}

func TestLogin_Duration(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	p := plan(t, b, "dev")
	for _, d := range []time.Duration{0, 14 * time.Minute, 37 * time.Hour} {
		_, _, err := b.Login(context.Background(), p, "123456", d)
		if fault.KindOf(err) != fault.InvalidInput || fault.CodeOf(err) != "InvalidDuration" || !strings.Contains(err.Error(), "15m to 36h") {
			t.Errorf("Login(duration %s) = %v, want InvalidInput InvalidDuration with the STS range in the error", d, err)
		}
	}
	if w.sts.calls["GetSessionToken"] != 0 {
		t.Errorf("STS was called for an out-of-range duration")
	}
}

func TestLogin_Code(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	p := plan(t, b, "dev")
	for _, code := range []string{"", "12345", "1234567", "12345a", " 123456", "123456\n", "１２３４５６"} {
		_, _, err := b.Login(context.Background(), p, code, time.Hour)
		if fault.KindOf(err) != fault.InvalidInput || fault.CodeOf(err) != "InvalidMFACode" || !strings.Contains(err.Error(), "6 digits") {
			t.Errorf("Login(code %q) = %v, want InvalidInput InvalidMFACode saying it must be 6 digits", code, err)
		}
		if status, code, _ := httperr.Answer(err); status != http.StatusBadRequest || code != "InvalidMFACode" {
			t.Errorf("Login(code %q) answered %d %s, want %d InvalidMFACode", code, status, code, http.StatusBadRequest)
		}
	}
	if w.sts.calls["GetSessionToken"] != 0 || len(w.store.sessions) != 0 {
		t.Errorf("STS calls = %v and keychain sessions = %v for malformed codes, want none", w.sts.calls, w.store.sessions)
	}
}

// damagedSessions is a sessionStore whose stored sessions are not
// brokerd's format.
type damagedSessions struct{ *sessionStore }

var _ Sessions = damagedSessions{}

func (damagedSessions) Session(_ context.Context, profile string) (keychain.Session, error) {
	return keychain.Session{}, fmt.Errorf("keychain item brokerd-session/%s is %w", profile, keychain.ErrFormat)
}

func TestFetch_LoginRequired(t *testing.T) {
	for _, damaged := range []bool{false, true} {
		t.Run(fmt.Sprintf("damaged=%v", damaged), func(t *testing.T) { testFetchLoginRequired(t, damaged) })
	}
}

// testFetchLoginRequired fetches an MFA role with no session stored, or
// with one damaged, which the login asked for replaces.
func testFetchLoginRequired(t *testing.T, damaged bool) {
	w := newMFAWorld(t)
	if damaged {
		w.cfg.Sessions = damagedSessions{w.store}
	}
	_, err := w.broker().Fetch(context.Background(), "prod")
	var fe *fault.Error
	status, code, _ := httperr.Answer(err)
	if !errors.As(err, &fe) || fe.Kind != fault.LoginRequired || status != http.StatusUnauthorized || code != "LoginRequired" ||
		!strings.HasSuffix(fe.Message, "run: brokerd login dev") {
		t.Fatalf("Fetch(prod) without login = %v (%d %s), want 401 LoginRequired ending in run: brokerd login dev", err, status, code)
	}
	if !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Fetch(prod) without login = %v, want it to wrap ErrLoginRequired", err)
	}
	if len(w.sts.calls) != 0 {
		t.Errorf("STS calls = %v, want none before login", w.sts.calls)
	}
}

// countingStore is a sessionStore that counts its reads of keys.
type countingStore struct {
	*sessionStore
	keyReads atomic.Int32
}

var (
	_ Keys     = (*countingStore)(nil)
	_ Sessions = (*countingStore)(nil)
)

func (s *countingStore) Keys(ctx context.Context, profile string) (keychain.Keys, error) {
	s.keyReads.Add(1)
	return s.sessionStore.Keys(ctx, profile)
}

func TestLogin_ResolvesOnce(t *testing.T) {
	for _, name := range []string{"prod", "dev"} {
		t.Run(name, func(t *testing.T) {
			w := newMFAWorld(t)
			store := &countingStore{sessionStore: w.store}
			var loads atomic.Int32
			w.cfg.Sessions = store
			w.cfg.Load = func(path string) (*profile.Config, error) {
				loads.Add(1)
				return profile.Load(path)
			}
			b := New(store, w.cfg)
			p, err := b.Plan(name)
			if err != nil {
				t.Fatalf("Plan(%q) = %v", name, err)
			}
			if p.Source.Name != "dev" {
				t.Errorf("Plan(%q).Source.Name = %q, want %q", name, p.Source.Name, "dev")
			}
			if _, _, err := b.Login(t.Context(), p, "123456", time.Hour); err != nil {
				t.Fatalf("Login(%q) = %v", name, err)
			}
			if n := loads.Load(); n > 1 {
				t.Errorf("Plan(%q) and Login parsed the config file %d times, want at most once", name, n)
			}
			if n := store.keyReads.Load(); n != 1 {
				t.Errorf("Login(%q) read the keychain's keys %d times, want once", name, n)
			}
			if w.sts.calls["GetSessionToken"] != 1 {
				t.Errorf("Login(%q) called GetSessionToken %d times, want once", name, w.sts.calls["GetSessionToken"])
			}
		})
	}
}

func TestLogin_NoMFASerial(t *testing.T) {
	w := newMFAWorld(t)
	config := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(config, []byte("[profile dev]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.cfg.ConfigPath = config
	b := w.broker()
	_, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", time.Hour)
	if status, code, _ := httperr.Answer(err); fault.KindOf(err) != fault.InvalidConfig || status != http.StatusBadRequest || code != "InvalidConfig" ||
		!strings.Contains(err.Error(), "mfa_serial") {
		t.Errorf("Login(%q) without an mfa_serial = %v (%d %s), want 400 InvalidConfig naming mfa_serial", "dev", err, status, code)
	}
	if w.sts.calls["GetSessionToken"] != 0 {
		t.Errorf("STS was called for a login without an MFA device")
	}
}

func TestFetch_SessionServesEveryRole(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	sess, warn, err := b.Login(context.Background(), plan(t, b, "prod"), "123456", 12*time.Hour) // a role names its source
	if err != nil || warn != nil {
		t.Fatalf("Login = %v, %v", err, warn)
	}
	if got := w.store.sessions["dev"]; got.AccessKeyID != sess.AccessKeyID || got.MFASerial != "arn:aws:iam::111111111111:mfa/alice" {
		t.Errorf("keychain session = %+v, want the login's session with its MFA serial", got)
	}
	for _, role := range []string{"prod", "ro", "prod"} {
		c, err := b.Fetch(context.Background(), role)
		if err != nil {
			t.Fatalf("Fetch(%q) = %v", role, err)
		}
		if !strings.HasPrefix(c.AccessKeyID, "ASIAROL") || !strings.HasSuffix(c.RoleARN, map[string]string{"prod": "UpdateApp", "ro": "ReadOnly"}[role]) {
			t.Errorf("Fetch(%q) = %s %s, want role credentials", role, c.AccessKeyID, c.RoleARN)
		}
	}
	if w.sts.calls["GetSessionToken"] != 1 {
		t.Errorf("GetSessionToken calls = %d, want 1 for three role fetches", w.sts.calls["GetSessionToken"])
	}
	for _, k := range w.sts.signers {
		if k != sess.AccessKeyID {
			t.Errorf("AssumeRole signed by %s, want the MFA session's key %s", k, sess.AccessKeyID)
		}
	}
}

func TestFetch_ExpiredSession(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // of a one-hour session
		want  string
	}{
		{"expired", time.Hour, "expired at"},
		// The broker no longer uses it; it must not say it expired.
		{"last minute", time.Hour - time.Minute, "too soon to be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newMFAWorld(t)
			b := w.broker()
			if _, _, err := b.Login(context.Background(), plan(t, b, "dev"), "123456", time.Hour); err != nil {
				t.Fatal(err)
			}
			w.clock.Advance(tt.after)
			_, err := b.Fetch(context.Background(), "prod")
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.LoginRequired || !strings.Contains(fe.Message, tt.want) {
				t.Fatalf("Fetch %s into the session = %v, want LoginRequired saying %q", tt.after, err, tt.want)
			}
			if w.sts.calls["AssumeRole"] != 0 {
				t.Errorf("AssumeRole was called with a session at its end")
			}
		})
	}
}

func TestFetch_RestartLoadsSession(t *testing.T) {
	w := newMFAWorld(t)
	first := w.broker()
	if _, _, err := first.Login(context.Background(), plan(t, first, "dev"), "123456", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	restarted := w.broker() // a new daemon over the same keychain
	if _, err := restarted.Fetch(context.Background(), "prod"); err != nil {
		t.Fatalf("Fetch after restart = %v, want the stored session used", err)
	}
	if w.sts.calls["GetSessionToken"] != 1 {
		t.Errorf("GetSessionToken calls = %d, want 1 (no new login after restart)", w.sts.calls["GetSessionToken"])
	}
	restarted.LoadSessions(context.Background(), []string{"dev", "other"})
	if s := restarted.Sessions(); len(s) != 1 || s[0].Profile != "dev" {
		t.Errorf("Sessions() after LoadSessions = %+v, want dev's", s)
	}
}

func TestLogout(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	if _, _, err := b.Login(context.Background(), plan(t, b, "dev"), "123456", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Logout(context.Background(), "dev"); err != nil {
		t.Fatal(err)
	}
	if len(w.store.sessions) != 0 || len(b.Sessions()) != 0 {
		t.Errorf("after Logout the session is still kept: keychain %v, memory %v", w.store.sessions, b.Sessions())
	}
	if _, err := b.Fetch(context.Background(), "prod"); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Fetch after Logout = %v, want ErrLoginRequired", err)
	}
}

func TestWarnExpiring(t *testing.T) {
	w := newMFAWorld(t)
	core, logs := observer.New(zap.WarnLevel)
	w.cfg.Log = zap.New(core)
	b := w.broker()
	sess, _, err := b.Login(context.Background(), plan(t, b, "dev"), "123456", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b.WarnExpiring()
	if logs.Len() != 0 {
		t.Fatalf("warned with an hour left: %v", logs.All())
	}
	w.clock.Advance(35 * time.Minute)
	b.WarnExpiring()
	b.WarnExpiring()
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "brokerd login dev") {
		t.Fatalf("warnings with 25m left = %v, want one naming brokerd login dev", logs.All())
	}
	for _, f := range logs.All()[0].Context {
		if strings.Contains(f.String, sess.SessionToken) || strings.Contains(f.String, sess.SecretAccessKey) {
			t.Errorf("warning field %s holds a secret", f.Key)
		}
	}
}

func TestWarnExpiring_Next(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	start := w.clock.Now()
	if next := b.WarnExpiring(); !next.IsZero() {
		t.Errorf("WarnExpiring() with no session = %v, want zero", next)
	}
	if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", time.Hour); err != nil {
		t.Fatal(err)
	}
	if next, want := b.WarnExpiring(), start.Add(30*time.Minute); !next.Equal(want) {
		t.Errorf("WarnExpiring() with an hour left = %v, want %v", next, want)
	}
	w.clock.Advance(10 * time.Minute)
	if next, want := b.WarnExpiring(), start.Add(30*time.Minute); !next.Equal(want) {
		t.Errorf("WarnExpiring() with 50m left = %v, want %v", next, want)
	}
	w.clock.Advance(25 * time.Minute)
	if next := b.WarnExpiring(); !next.IsZero() {
		t.Errorf("WarnExpiring() once it warned of the only session = %v, want zero", next)
	}
	if next := b.WarnExpiring(); !next.IsZero() {
		t.Errorf("WarnExpiring() again = %v, want zero", next)
	}
	// A new login is warned of again.
	if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if next, want := b.WarnExpiring(), w.clock.Now().Add(90*time.Minute); !next.Equal(want) {
		t.Errorf("WarnExpiring() after a new 2h login = %v, want %v", next, want)
	}
}

func TestWarnExpiring_NextOfSeveral(t *testing.T) {
	w := newMFAWorld(t)
	now := w.clock.Now()
	w.store.sessions["dev"] = keychain.Session{AccessKeyID: "ASIADEV", Expires: now.Add(3 * time.Hour)}
	w.store.sessions["ops"] = keychain.Session{AccessKeyID: "ASIAOPS", Expires: now.Add(2 * time.Hour)}
	w.store.sessions["old"] = keychain.Session{AccessKeyID: "ASIAOLD", Expires: now.Add(-time.Hour)}
	b := w.broker()
	b.LoadSessions(t.Context(), []string{"dev", "ops", "old"})
	if next, want := b.WarnExpiring(), now.Add(90*time.Minute); !next.Equal(want) {
		t.Errorf("WarnExpiring() with sessions ending in 3h, 2h and an hour ago = %v, want %v (ops's)", next, want)
	}
	w.clock.Advance(100 * time.Minute)
	if next, want := b.WarnExpiring(), now.Add(150*time.Minute); !next.Equal(want) {
		t.Errorf("WarnExpiring() after warning of ops = %v, want %v (dev's)", next, want)
	}
}

func TestWarnExpired(t *testing.T) {
	w := newMFAWorld(t)
	core, logs := observer.New(zap.WarnLevel)
	w.cfg.Log = zap.New(core)
	b := w.broker()
	if _, _, err := b.Login(context.Background(), plan(t, b, "dev"), "123456", time.Hour); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Hour)
	b.WarnExpiring()
	if logs.Len() != 1 || logs.All()[0].Message != "MFA session expired: run `brokerd login dev` to open a new one" {
		t.Fatalf("warnings for a session expired an hour ago = %v, want one saying it expired", logs.All())
	}
}

// gate holds the first call through it until released.
type gate struct {
	once             sync.Once
	entered, release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) pass() {
	if g == nil {
		return
	}
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
}

// gatedStore is a sessionStore whose first session read and first delete
// can be held at a gate, and whose deletes can fail.
type gatedStore struct {
	*sessionStore
	read, del *gate // nil: no wait
	deleteErr error
}

var _ Sessions = (*gatedStore)(nil)

func (s *gatedStore) Session(ctx context.Context, profile string) (keychain.Session, error) {
	sess, err := s.sessionStore.Session(ctx, profile)
	s.read.pass() // after the read: the item was there when read
	return sess, err
}

func (s *gatedStore) DeleteSession(ctx context.Context, profile string) error {
	s.del.pass()
	if s.deleteErr != nil {
		return s.deleteErr
	}
	return s.sessionStore.DeleteSession(ctx, profile)
}

func TestLogout_RacingLookup(t *testing.T) {
	tests := []struct {
		name     string
		restart  bool // the session is in the keychain only
		hold     string
		lookupAt string // "before": lookup held, then Logout; "during": Logout held, then lookup
	}{
		{name: "lookup during keychain delete", hold: "delete", lookupAt: "during"},
		{name: "lookup during keychain delete after restart", restart: true, hold: "delete", lookupAt: "during"},
		{name: "keychain read spans logout", restart: true, hold: "read", lookupAt: "before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newMFAWorld(t)
			earlier := w.broker()
			if _, _, err := earlier.Login(t.Context(), plan(t, earlier, "dev"), "123456", 12*time.Hour); err != nil {
				t.Fatal(err)
			}
			g := newGate()
			store := &gatedStore{sessionStore: w.store}
			if tt.hold == "read" {
				store.read = g
			} else {
				store.del = g
			}
			w.cfg.Sessions = store
			b := w.broker()
			if !tt.restart {
				if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", 12*time.Hour); err != nil {
					t.Fatal(err)
				}
			}

			logout, lookup := make(chan error, 1), make(chan error, 1)
			first, second := func() { logout <- b.Logout(t.Context(), "dev") }, func() {
				_, err := b.mfa.session(t.Context(), "dev")
				lookup <- err
			}
			if tt.lookupAt == "before" {
				first, second = second, first
			}
			go first()
			<-g.entered
			if tt.lookupAt == "during" {
				second() // returns at once: memory or the still-present item
			} else {
				go second()
				if err := <-logout; err != nil {
					t.Fatalf("Logout = %v", err)
				}
			}
			close(g.release)
			if tt.lookupAt == "during" {
				if err := <-logout; err != nil {
					t.Fatalf("Logout = %v", err)
				}
			}
			<-lookup

			if s := b.Sessions(); len(s) != 0 {
				t.Errorf("Sessions() after Logout = %+v, want none", s)
			}
			if _, err := b.mfa.session(t.Context(), "dev"); !errors.Is(err, ErrLoginRequired) {
				t.Errorf("session(%q) after Logout = %v, want ErrLoginRequired", "dev", err)
			}
		})
	}
}

func TestLogout_KeychainFails(t *testing.T) {
	w := newMFAWorld(t)
	w.cfg.Sessions = &gatedStore{sessionStore: w.store, deleteErr: fmt.Errorf("delete item: %w", keychain.ErrLocked)}
	b := w.broker()
	if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	err := b.Logout(t.Context(), "dev")
	if status, code, _ := httperr.Answer(err); fault.KindOf(err) != fault.KeychainLocked || status != http.StatusServiceUnavailable ||
		code != "KeychainLocked" || !errors.Is(err, keychain.ErrLocked) {
		t.Fatalf("Logout(%q) with a locked keychain = %v, want KeychainLocked", "dev", err)
	}
	if len(w.store.sessions) != 1 {
		t.Fatalf("keychain sessions = %d, want the undeleted one", len(w.store.sessions))
	}
	if s := b.Sessions(); len(s) != 0 {
		t.Errorf("Sessions() after a failed Logout = %+v, want none", s)
	}
	if _, err := b.Fetch(t.Context(), "prod"); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("Fetch(%q) after a failed Logout = %v, want ErrLoginRequired, not the keychain's session", "prod", err)
	}
	if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(t.Context(), "prod"); err != nil {
		t.Errorf("Fetch(%q) after a new login = %v, want credentials", "prod", err)
	}
}

func TestLogout_LoginMeanwhileKept(t *testing.T) {
	w := newMFAWorld(t)
	g := newGate()
	w.cfg.Sessions = &gatedStore{sessionStore: w.store, del: g}
	b := w.broker()
	if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	logout := make(chan error, 1)
	go func() { logout <- b.Logout(t.Context(), "dev") }()
	<-g.entered // Logout is deleting the keychain item
	if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := <-logout; err != nil {
		t.Fatalf("Logout = %v", err)
	}
	if s := b.Sessions(); len(s) != 1 {
		t.Errorf("Sessions() after a login during Logout = %+v, want the new session", s)
	}
	if _, err := b.Fetch(t.Context(), "prod"); err != nil {
		t.Errorf("Fetch(%q) after a login during Logout = %v, want credentials", "prod", err)
	}
}

// TestLogin_CodeSentOnce checks that a login whose answer was cut while
// read is not sent again with the same code: STS took it, and would refuse
// it as invalid, which reads as a mistyped code.
func TestLogin_CodeSentOnce(t *testing.T) {
	w := newMFAWorld(t)
	w.sts.cutOnce = true
	b := w.broker()
	if _, _, err := b.Login(context.Background(), plan(t, b, "dev"), "123456", 12*time.Hour); err == nil {
		t.Error("Login() with its answer cut = nil, want an error")
	}
	w.sts.mu.Lock()
	defer w.sts.mu.Unlock()
	if got := w.sts.calls["GetSessionToken"]; got != 1 {
		t.Errorf("GetSessionToken calls = %d, want 1: the code is sent once", got)
	}
}
