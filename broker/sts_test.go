package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/profile"
)

func TestSTSClients_ReusedUntilTheConfigChanges(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	clients := func() map[stsKey]*sts.Client {
		b.sts.mu.Lock()
		defer b.sts.mu.Unlock()
		out := map[stsKey]*sts.Client{}
		for k, c := range b.sts.clients {
			out[k] = c
		}
		return out
	}
	only := func(what string) *sts.Client {
		t.Helper()
		cs := clients()
		if len(cs) != 1 {
			t.Fatalf("%s: %d STS clients kept, want 1 (one region, one endpoint)", what, len(cs))
		}
		for _, c := range cs {
			return c
		}
		return nil
	}
	login := func() {
		t.Helper()
		if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", time.Hour); err != nil {
			t.Fatalf("Login(%q) = %v", "dev", err)
		}
	}
	fetch := func() {
		t.Helper()
		if _, err := b.Fetch(t.Context(), "prod"); err != nil {
			t.Fatalf("Fetch(%q) = %v", "prod", err)
		}
	}

	login()
	first := only("after a login")
	login()
	fetch()
	fetch()
	if c := only("after logins and fetches of two profiles"); c != first {
		t.Errorf("later calls built a new STS client, want the first one reused")
	}

	// An edited config file may move STS: the clients are built anew.
	f, err := os.OpenFile(w.cfg.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("# edited\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	login()
	edited := only("after the config file changed")
	if edited == first {
		t.Errorf("Login(%q) after the config file changed reused the STS client built before", "dev")
	}
	if _, err := b.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	login()
	if c := only("after Reload"); c == edited {
		t.Errorf("Login(%q) after Reload() reused the STS client built before", "dev")
	}
}

// An answer cut off by a reset while it is read is asked for once more
// (aws-sdk-go-v2#2737); a connection reset before any answer is not, so a
// failing STS sees one call per retry window.
func TestSTSClients_RetryOnlyAResetWhileReading(t *testing.T) {
	const identity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>arn:aws:iam::123456789012:user/dev</Arn><UserId>AIDA</UserId><Account>123456789012</Account>` +
		`</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	tests := []struct {
		name      string
		cut       string // what the first answer sends before the reset
		wantCalls int32
		wantErr   bool
	}{
		{"reset while reading", "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 900\r\n\r\n<GetCallerIdentityResponse", 2, false},
		{"reset before answering", "", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) > 1 {
					w.Header().Set("Content-Type", "text/xml")
					io.WriteString(w, identity)
					return
				}
				// The whole request first, so that the reset comes while
				// the client reads, not while it still writes the body.
				io.Copy(io.Discard, r.Body)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				io.WriteString(conn, tt.cut)
				conn.(*net.TCPConn).SetLinger(0) // close with a reset
				conn.Close()
			}))
			defer srv.Close()
			c := stsClientOf(t, srv.URL)
			_, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if (err != nil) != tt.wantErr || calls.Load() != tt.wantCalls {
				t.Errorf("GetCallerIdentity = %v after %d calls, want error %v after %d", err, calls.Load(), tt.wantErr, tt.wantCalls)
			}
		})
	}
}

// A clock off by more than STS's 5 minutes makes it refuse every signature
// (SignatureDoesNotMatch, "Signature expired"); the SDK corrects the skew
// from STS's Date header and tries once more, as it does by default. A
// refused signature without skew is not tried again.
func TestSTSClients_CorrectClockSkew(t *testing.T) {
	const identity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>arn:aws:iam::123456789012:user/dev</Arn><UserId>AIDA</UserId><Account>123456789012</Account>` +
		`</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	const refused = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
		`<Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`
	tests := []struct {
		name      string
		ahead     time.Duration // STS's clock against this machine's
		badSecret bool
		wantCalls []int32 // of each of two calls
		wantErr   bool
	}{
		{"clock an hour behind", time.Hour, false, []int32{2, 1}, false},
		{"clock 10 minutes ahead", -10 * time.Minute, false, []int32{2, 1}, false},
		{"wrong secret", 0, true, []int32{1, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				io.Copy(io.Discard, r.Body)
				now := time.Now().Add(tt.ahead).UTC()
				w.Header().Set("Date", now.Format(http.TimeFormat))
				w.Header().Set("Content-Type", "text/xml")
				signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
				switch {
				case err != nil || signed.Sub(now).Abs() > 5*time.Minute:
					w.WriteHeader(http.StatusForbidden)
					fmt.Fprintf(w, refused, "Signature expired: "+r.Header.Get("X-Amz-Date")+" is now earlier than "+now.Add(-5*time.Minute).Format("20060102T150405Z"))
				case tt.badSecret:
					w.WriteHeader(http.StatusForbidden)
					fmt.Fprintf(w, refused, "The request signature we calculated does not match the signature you provided.")
				default:
					io.WriteString(w, identity)
				}
			}))
			defer srv.Close()
			c := stsClientOf(t, srv.URL)
			keys := func(o *sts.Options) {
				o.Credentials = static{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "secret"}
			}
			for i, want := range tt.wantCalls {
				calls.Store(0)
				_, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}, keys)
				if (err != nil) != tt.wantErr || calls.Load() != want {
					t.Errorf("GetCallerIdentity #%d = %v after %d calls, want error %v after %d", i+1, err, calls.Load(), tt.wantErr, want)
				}
			}
		})
	}
}

// TestHeldKeys_DroppedAfterAnHour checks that keys read for a profile no
// longer used leave memory an hour after their read, and that keys read
// again since stay.
func TestHeldKeys_DroppedAfterAnHour(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	held := func() bool { return holds(b, "dev") }
	read := func() {
		t.Helper()
		if _, err := b.longTerm(t.Context(), plan(t, b, "dev")); err != nil {
			t.Fatal(err)
		}
	}
	read()
	w.clock.Advance(keysMaxAge - time.Minute)
	// Its timer, which fired on the way, looks again at the hour's end.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("no timer for the keys' hour after %v: %v", keysMaxAge-time.Minute, err)
	}
	if !held() {
		t.Fatal("keys dropped within the hour")
	}
	w.clock.Advance(time.Minute)
	// The fake clock runs what AfterFunc was given on a goroutine.
	for deadline := time.Now().Add(5 * time.Second); held() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if held() {
		t.Fatal("keys still held an hour after their read")
	}
	read()
	w.clock.Advance(keysMaxAge / 2)
	b.ForgetKeys()
	read() // read again: the first read's timer must not drop these
	w.clock.Advance(keysMaxAge / 2)
	time.Sleep(10 * time.Millisecond) // a wrong drop would be done by now
	if !held() {
		t.Error("keys read half an hour ago were dropped by an earlier read's timer")
	}
}

// stsClientOf returns brokerd's STS client for an STS at url, in
// us-east-1, closed when the test ends.
func stsClientOf(t *testing.T, url string) *sts.Client {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_STS", url)
	t.Setenv("AWS_REGION", "us-east-1")
	s := &stsClients{}
	t.Cleanup(s.close)
	c, err := s.get(t.Context(), profile.Profile{}, profile.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHeldKeys_DroppedAfterASleep checks that keys read before a laptop
// slept for hours leave memory within keysRecheck of its waking: timers
// run on the monotonic clock, which stands still while it sleeps, so a
// timer of an hour would hold them for an hour of waking time more.
func TestHeldKeys_DroppedAfterASleep(t *testing.T) {
	w := newMFAWorld(t)
	clock := &sleptClock{FakeClock: w.clock}
	w.cfg.Clock = clock
	b := w.broker()
	held := func() bool { return holds(b, "dev") }
	if _, err := b.longTerm(t.Context(), plan(t, b, "dev")); err != nil {
		t.Fatal(err)
	}
	clock.suspend(2 * time.Hour)
	w.clock.Advance(keysRecheck)
	// The fake clock runs what AfterFunc was given on a goroutine.
	for deadline := time.Now().Add(5 * time.Second); held() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if held() {
		t.Errorf("keys read before a 2-hour sleep still held %v after waking", keysRecheck)
	}
}

// sleptClock is a fake clock whose wall clock moves on, while its timers
// stand still, over a laptop's sleep (suspend).
type sleptClock struct {
	*clockwork.FakeClock
	mu    sync.Mutex
	slept time.Duration
}

func (c *sleptClock) suspend(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
}

func (c *sleptClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.FakeClock.Now().Add(c.slept)
}

func (c *sleptClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// TestClose_ForgetsHeldKeys checks that a closed broker holds no keys.
func TestClose_ForgetsHeldKeys(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	if _, err := b.longTerm(t.Context(), plan(t, b, "dev")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	if len(b.held) != 0 {
		t.Errorf("after Close the broker holds the keys of %d profiles, want none", len(b.held))
	}
}

// holds reports whether b holds the long-term keys of name.
func holds(b *Broker, name string) bool {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	_, ok := b.held[name]
	return ok
}
