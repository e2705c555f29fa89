//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerd/brokerd/internal/dropproxy"
)

// TestSTSFaultsBounded puts each kind of STS failure between the daemon and
// moto_server, then spreads 200 requests for one cold profile over 10 s:
// STS sees at most 3 calls (one per retry window, whatever the number of
// clients), and every request is answered with a JSON error at once, with
// STS's code where it sent one. The bound of 2 s per request is the
// functional requirement that no request waits on STS (SDKs give up after
// 1 to 2 s), not a performance target.
func TestSTSFaultsBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault   stsFault
		refused bool // nothing listens where STS should be
		status  int
		code    string
	}{
		{fault: answer500, status: 503, code: "STSUnavailable"},
		{fault: answer503, status: 503, code: "STSUnavailable"},
		{fault: accessDenied, status: 403, code: "AccessDenied"},
		{fault: throttling, status: 503, code: "Throttling"},
		{fault: malformedXML, status: 503, code: "STSUnavailable"},
		{fault: expiredOnArrival, status: 503, code: "CredentialsExpired"},
		{fault: hang, status: 503, code: "STSUnavailable"},
		{fault: closeConn, status: 503, code: "STSUnavailable"},
		{refused: true, status: 503, code: "STSUnavailable"},
	}
	for _, tt := range tests {
		name := tt.fault.String()
		if tt.refused {
			name = "connection refused"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			proxy := newFaultProxy(t, openSTS.URL)
			proxy.set(tt.fault)
			e := newEnv(t)
			if tt.refused {
				e.setenv("AWS_ENDPOINT_URL_STS", "http://"+closedAddr(t))
			} else {
				e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
			}
			e.writeConfig(t, roleConfig)
			dev, prod := e.profile("dev"), e.profile("prod")
			e.addKeys(t, dev, randomKeys(t))
			d := e.startDaemon(t, "--default-profile", prod)

			answers := d.spread(t, prod, 200, 10*time.Second)
			calls := proxy.count("")
			st := summarize(answers)
			t.Logf("%s: %d STS calls for 200 requests over 10 s; answers %v; latency max %v (request %d), median %v, first request %v; first message %q",
				name, calls, st.answers, st.max.Round(time.Millisecond), st.slowest+1, st.median.Round(time.Millisecond),
				answers[0].latency.Round(time.Millisecond), answers[0].message)
			if calls > 3 {
				t.Errorf("STS got %d calls, want at most 3", calls)
			}
			want := fmt.Sprintf("%d %s", tt.status, tt.code)
			for _, a := range answers {
				if a.err != nil {
					t.Fatalf("request %d: %v", a.i+1, a.err)
				}
				if got := fmt.Sprintf("%d %s", a.status, a.code); got != want || !a.json || a.message == "" {
					t.Fatalf("request %d answered %s (JSON %v) %q, want %s as JSON with a message", a.i+1, got, a.json, a.body, want)
				}
			}
			if st.max >= 2*time.Second {
				t.Errorf("slowest request took %v, want every one answered within 2 s", st.max)
			}
		})
	}
}

// TestSTSFaultWindowEndsOnChange checks that a failing profile's retry
// window holds while nothing changes (the stored error, no STS call, even
// though STS works again), and that a change of the config file ends it at
// once.
func TestSTSFaultWindowEndsOnChange(t *testing.T) {
	t.Parallel()
	proxy := newFaultProxy(t, openSTS.URL)
	proxy.set(answer500)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)

	wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), 503, "STSUnavailable", "brokerd retries")
	proxy.set(passThrough)
	wantAPIError(t, d.get(t, "/v1/credentials/"+prod, nil), 503, "STSUnavailable", "brokerd retries")
	if n := proxy.count(""); n != 1 {
		t.Fatalf("%d STS calls, want 1: a request in the retry window must get the stored error", n)
	}

	// Any change of the config file may fix the cause: the next request
	// calls STS again.
	e.writeConfig(t, roleConfig+"\n# edited\n")
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(e.ConfigFile, later, later) // a new mtime even on a coarse clock
	d.credentials(t, prod)
	if n := proxy.count(""); n != 2 {
		t.Errorf("%d STS calls after the config changed, want 2", n)
	}
}

// answer is one request's outcome in a spread.
type answer struct {
	i       int
	latency time.Duration
	status  int
	json    bool // Content-Type application/json and a JSON object body
	code    string
	message string
	body    []byte
	err     error
}

// spread sends n requests for profile's credentials, one every span/n,
// each without waiting for the ones before, and returns their answers in
// order.
func (d *Daemon) spread(t testing.TB, profile string, n int, span time.Duration) []answer {
	t.Helper()
	out := make([]answer, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * span / time.Duration(n))))
		wg.Go(func() {
			a := &out[i]
			a.i = i
			begin := time.Now()
			r, err := d.getOnce("/v1/credentials/" + profile)
			a.latency = time.Since(begin)
			if err != nil {
				a.err = err
				return
			}
			a.status, a.body = r.status, r.body
			var body struct{ Code, Message string }
			a.json = r.header.Get("Content-Type") == "application/json" && json.Unmarshal(r.body, &body) == nil
			a.code, a.message = body.Code, body.Message
		})
	}
	wg.Wait()
	return out
}

// spreadStats sums up a spread's answers.
type spreadStats struct {
	max, median time.Duration
	slowest     int            // index of the slowest answer
	answers     map[string]int // "STATUS CODE" → count
}

func summarize(answers []answer) spreadStats {
	st := spreadStats{answers: map[string]int{}}
	var lat []time.Duration
	for i, a := range answers {
		if a.latency > answers[st.slowest].latency {
			st.slowest = i
		}
		lat = append(lat, a.latency)
		st.answers[fmt.Sprintf("%d %s", a.status, a.code)]++
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		st.max, st.median = lat[len(lat)-1], lat[len(lat)/2]
	}
	return st
}

// getOnce is one GET of path with the daemon's token: no retry, as each
// answer is measured.
func (d *Daemon) getOnce(path string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, d.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", d.Token)
	req.Header.Set("Accept", "application/json")
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

// deadConnConfig has two roles of one source, so that the second is
// fetched on the connection the first left in the daemon's pool.
const deadConnConfig = `
[profile {dev}]
region = us-east-1

[profile {prod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}

[profile {ops}]
role_arn = arn:aws:iam::999999999999:role/Operator
source_profile = {dev}
`

// TestSTSDeadPooledConnection checks the first fetch after the network
// under a pooled STS connection went away unseen (a laptop's sleep, a
// Wi-Fi change: no FIN or RST arrives, and writes into it succeed): the
// daemon gives the connection up and fetches on a new one, so requests
// meet only "still being fetched" until the credentials come. It waited
// the client's 10 s timeout and answered STSUnavailable, to SDKs that
// give up after a second or two.
func TestSTSDeadPooledConnection(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	drop := dropproxy.New(t, strings.TrimPrefix(proxy.URL, "http://"))
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", "http://"+drop.Addr())
	e.writeConfig(t, deadConnConfig)
	dev, prod, ops := e.profile("dev"), e.profile("prod"), e.profile("ops")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)

	if r := d.get(t, "/v1/credentials/"+prod, nil); r.status != http.StatusOK {
		t.Fatalf("credentials of %s: %v", prod, r)
	}
	drop.Kill()
	deadline := time.Now().Add(30 * time.Second) // against a hang, not a measure
	for {
		r, err := d.requestOnce(http.MethodGet, "/v1/credentials/"+ops, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "still being fetched") {
			t.Fatalf("credentials of %s after the pooled connection died: %v, want them, or that they are still being fetched", ops, r)
		}
		if time.Now().After(deadline) {
			t.Fatalf("credentials of %s still being fetched after 30 s", ops)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if drop.Lost.Load() == 0 {
		t.Errorf("no request was written into the dead connection: the test tested nothing")
	}
	d.stop(t)
}
