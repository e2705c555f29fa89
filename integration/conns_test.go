//go:build integration

package integration

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestIdleConnectionsDoNotStarveClients holds 200 connections that never
// send a request against a daemon allowed 64 file descriptors: an
// authorised request still gets its credentials, within an SDK's timeout.
func TestIdleConnectionsDoNotStarveClients(t *testing.T) {
	e := newEnv(t)
	dev := e.profile("dev")
	e.addKeys(t, dev, randomKeys(t))
	e.daemonPrefix = []string{"prlimit", "--nofile=64:64"}
	d := e.startDaemon(t, "--default-profile", dev)
	d.credentials(t, dev) // warm: the STS call is not what is measured

	for range 200 {
		c, err := net.DialTimeout("tcp", d.Addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %d-th idle connection: %v", 200, err)
		}
		defer c.Close()
	}
	start := time.Now()
	r, err := d.requestWithin(2*time.Second, "/v1/credentials/"+dev)
	if err != nil {
		t.Fatalf("GET with 200 idle connections held: %v, want credentials within an SDK's 2 s timeout; daemon log:\n%s", err, d.log())
	}
	if _, err := decodeCredentials(r); err != nil {
		t.Fatalf("GET with 200 idle connections held = %v: %v", r, err)
	}
	t.Logf("authorised request with 200 idle connections held: %v", time.Since(start))
}

// requestWithin gets path on a new connection, as a new SDK client would,
// giving up after timeout.
func (d *Daemon) requestWithin(timeout time.Duration, path string) (response, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, d.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", d.Token)
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: body}, err
}
