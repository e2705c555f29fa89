//go:build integration

package integration

import (
	"net/http"
	"sync"
	"testing"
)

// TestColdBurstAssumesRoleOnce fires 200 requests at once for a profile the
// daemon has no credentials for: all get the same credentials from exactly
// one AssumeRole call. A second profile then gets its own, with one more.
func TestColdBurstAssumesRoleOnce(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, roleConfig+`
[profile {deploy}]
role_arn = arn:aws:iam::999999999999:role/Deploy
source_profile = {dev}
`)
	dev, prod, deploy := e.profile("dev"), e.profile("prod"), e.profile("deploy")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)

	first := d.burst(t, prod, 200)
	if n := len(proxy.callsOf("AssumeRole")); n != 1 {
		t.Fatalf("200 concurrent cold requests for %s made %d AssumeRole calls, want 1", prod, n)
	}
	if first.RoleArn != "arn:aws:iam::999999999999:role/UpdateApp" {
		t.Errorf("RoleArn = %q, want arn:aws:iam::999999999999:role/UpdateApp", first.RoleArn)
	}

	second := d.burst(t, deploy, 200)
	calls := proxy.callsOf("AssumeRole")
	if len(calls) != 2 {
		t.Fatalf("after 200 more for %s: %d AssumeRole calls, want 2", deploy, len(calls))
	}
	if got := calls[1].Get("RoleArn"); got != "arn:aws:iam::999999999999:role/Deploy" {
		t.Errorf("second AssumeRole was for %q, want arn:aws:iam::999999999999:role/Deploy", got)
	}
	if second.AccessKeyID == first.AccessKeyID {
		t.Errorf("%s and %s were served the same access key %s", prod, deploy, first.AccessKeyID)
	}
	if again := d.credentials(t, prod); again.AccessKeyID != first.AccessKeyID {
		t.Errorf("%s: access key changed from %s to %s with no refresh due", prod, first.AccessKeyID, again.AccessKeyID)
	}
	if n := len(proxy.callsOf("AssumeRole")); n != 2 {
		t.Errorf("%d AssumeRole calls in all, want 2", n)
	}
	if n := len(proxy.callsOf("GetSessionToken")); n != 0 {
		t.Errorf("%d GetSessionToken calls, want none", n)
	}
}

// burst sends n requests for profile's credentials at once and checks that
// all succeed with the same credentials, which it returns.
func (d *Daemon) burst(t testing.TB, profile string, n int) served {
	t.Helper()
	type outcome struct {
		creds served
		err   error
	}
	out := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := d.request(http.MethodGet, "/v1/credentials/"+profile, nil)
			if err == nil {
				out[i].creds, err = decodeCredentials(r)
			}
			out[i].err = err
		})
	}
	close(start)
	wg.Wait()
	for i, o := range out {
		if o.err != nil {
			t.Fatalf("request %d of %d for %s: %v", i+1, n, profile, o.err)
		}
		if o.creds != out[0].creds {
			t.Fatalf("request %d of %d for %s got access key %s, request 1 got %s", i+1, n, profile, o.creds.AccessKeyID, out[0].creds.AccessKeyID)
		}
	}
	return out[0].creds
}
