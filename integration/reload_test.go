//go:build integration

package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPBurstRefreshesOnce sends 100 SIGHUPs within one second to a
// daemon with two profiles in use: the reloads coalesce into one refresh
// of each, counted as AssumeRole calls at the proxy in front of STS.
func TestSIGHUPBurstRefreshesOnce(t *testing.T) {
	t.Parallel()
	proxy := newFaultProxy(t, openSTS.URL)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, roleConfig+`
[profile {deploy}]
role_arn = arn:aws:iam::999999999999:role/Deploy
source_profile = {dev}
`)
	dev, prod, deploy := e.profile("dev"), e.profile("prod"), e.profile("deploy")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)
	firstProd, firstDeploy := d.credentials(t, prod), d.credentials(t, deploy)
	roles := func() map[string]int {
		n := map[string]int{}
		for _, f := range proxy.upstream.callsOf("AssumeRole") {
			n[strings.TrimPrefix(f.Get("RoleArn"), "arn:aws:iam::999999999999:role/")]++
		}
		return n
	}
	if n := roles(); n["UpdateApp"] != 1 || n["Deploy"] != 1 {
		t.Fatalf("AssumeRole calls before the SIGHUPs: %v, want one per role", n)
	}

	start := time.Now()
	for i := range 100 {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
		d.signal(t, syscall.SIGHUP)
	}
	sent := time.Since(start)
	waitFor(t, "the reload to refresh both profiles", func() bool {
		n := roles()
		return n["UpdateApp"] >= 2 && n["Deploy"] >= 2
	})
	// Any further refresh a straggling reload would start comes within the
	// reload's gathering time (at most two seconds) and the STS call after it.
	time.Sleep(3 * time.Second)
	n := roles()
	reloads := strings.Count(d.log(), "reloaded the config file")
	t.Logf("100 SIGHUPs sent in %v: %d reloads, AssumeRole calls after them: UpdateApp %d, Deploy %d",
		sent.Round(time.Millisecond), reloads, n["UpdateApp"]-1, n["Deploy"]-1)
	if n["UpdateApp"] != 2 || n["Deploy"] != 2 {
		t.Errorf("100 SIGHUPs in %v made %d refreshes of %s and %d of %s, want one each", sent, n["UpdateApp"]-1, prod, n["Deploy"]-1, deploy)
	}
	// The refresh replaced what is served.
	if got := d.credentials(t, prod); got.AccessKeyID == firstProd.AccessKeyID {
		t.Errorf("%s still served %s after the reload, want new credentials", prod, got.AccessKeyID)
	}
	if got := d.credentials(t, deploy); got.AccessKeyID == firstDeploy.AccessKeyID {
		t.Errorf("%s still served %s after the reload, want new credentials", deploy, got.AccessKeyID)
	}
}
