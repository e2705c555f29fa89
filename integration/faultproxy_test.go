//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stsFault is what a faultProxy answers the STS calls that reach it with.
type stsFault int32

const (
	passThrough      stsFault = iota // forward to moto_server
	answer500                        // 500 InternalFailure, as STS's XML
	answer503                        // 503 ServiceUnavailable, as STS's XML
	accessDenied                     // 403 AccessDenied, as STS's XML
	throttling                       // 400 Throttling, as STS's XML
	malformedXML                     // 200 with a truncated XML body
	expiredOnArrival                 // moto's answer with Expiration an hour ago
	hang                             // no answer until the client gives up
	closeConn                        // read the request, then close the connection
)

var faultNames = [...]string{"pass through", "500", "503", "AccessDenied", "Throttling", "malformed XML",
	"expired on arrival", "hang", "connection closed"}

func (f stsFault) String() string { return faultNames[f] }

// faultProxy stands between brokerd and moto_server: it counts every STS
// call that reaches it, by action, then answers it as its fault says. Set
// the fault at any time; a test owns its proxy.
type faultProxy struct {
	*httptest.Server
	upstream *stsProxy // moto behind the recording proxy of moto_test.go
	fault    atomic.Int32
	stopping chan struct{}

	mu    sync.Mutex
	calls map[string]int // by Action
}

// newFaultProxy starts a proxy in front of target (a moto_server URL) that
// passes calls through until set otherwise, and closes it when the test
// ends.
func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	p := &faultProxy{upstream: newSTSProxy(target), stopping: make(chan struct{}), calls: map[string]int{}}
	u, err := url.Parse(p.upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	expired := httputil.NewSingleHostReverseProxy(u)
	expired.ModifyResponse = expireCredentials
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client left
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		p.mu.Lock()
		p.calls[form.Get("Action")]++
		p.mu.Unlock()

		switch f := stsFault(p.fault.Load()); f {
		case passThrough:
			forward.ServeHTTP(w, r)
		case expiredOnArrival:
			expired.ServeHTTP(w, r)
		case answer500:
			writeSTSError(w, http.StatusInternalServerError, "Receiver", "InternalFailure", "An internal error occurred.")
		case answer503:
			writeSTSError(w, http.StatusServiceUnavailable, "Receiver", "ServiceUnavailable", "Service is unable to handle request.")
		case accessDenied:
			writeSTSError(w, http.StatusForbidden, "Sender", "AccessDenied",
				"User: arn:aws:iam::123456789012:user/brokerd-test is not authorized to perform: sts:AssumeRole on resource: "+form.Get("RoleArn"))
		case throttling:
			writeSTSError(w, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded")
		case malformedXML:
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA`)
		case hang:
			select {
			case <-r.Context().Done():
			case <-p.stopping:
			}
		case closeConn:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		default:
			panic(fmt.Sprintf("unknown fault %d", f))
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// set makes the proxy answer every call from now on with f.
func (p *faultProxy) set(f stsFault) { p.fault.Store(int32(f)) }

// count returns how many calls of action reached the proxy; "" counts all.
func (p *faultProxy) count(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if action != "" {
		return p.calls[action]
	}
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}

// Close lets hanging calls end, then stops the proxy and the one behind it.
func (p *faultProxy) Close() {
	select {
	case <-p.stopping:
		return
	default:
	}
	close(p.stopping)
	p.Server.Close()
	p.upstream.Close()
}

// writeSTSError answers as STS's query protocol does.
func writeSTSError(w http.ResponseWriter, status int, typ, code, message string) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>%s</Type><Code>%s</Code><Message>`, typ, code)
	xmlEscape(&b, message)
	fmt.Fprintf(&b, `</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, randomToken()[:36])
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func xmlEscape(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
}

var expirationElement = regexp.MustCompile(`<Expiration>[^<]*</Expiration>`)

// expireCredentials sets the Expiration of the credentials in a successful
// STS answer to an hour ago, as a machine whose clock is ahead sees them.
func expireCredentials(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	past := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	b = expirationElement.ReplaceAll(b, []byte("<Expiration>"+past+"</Expiration>"))
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}
