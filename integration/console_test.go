//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/internal/federationfake"
)

// TestConsolePrint follows issue 13's `brokerd console prod --print`: the
// URL it prints logs in at the federation endpoint (a fake, through
// BROKERD_FEDERATION_URL) with a sign-in token that the endpoint issued
// for the right session JSON: the role's credentials as brokerd serves
// them for a role profile, and for an IAM user's source profile the
// credentials of GetFederationToken signed with its long-term keys (moto),
// never the GetSessionToken credentials served for it. Without --print the
// URL goes to the browser only.
func TestConsolePrint(t *testing.T) {
	t.Parallel()
	proxy := newSTSProxy(openSTS.URL)
	t.Cleanup(proxy.Close)
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", proxy.URL)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	keys := randomKeys(t)
	e.addKeys(t, dev, keys)
	fed := federationfake.New(federationfake.Config{})
	t.Cleanup(fed.Close)
	e.setenv("BROKERD_FEDERATION_URL", fed.URL)
	d := e.startDaemon(t, "--log-level", "debug", "--default-profile", prod)
	outputs := map[string]string{}

	tests := []struct {
		profile  string
		args     []string
		wantDest string
	}{
		// prod sets no region: the console opens in dev's, as brokerd env gives.
		{prod, nil, "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1"},
		{dev, []string{"--destination", "s3", "--region", "eu-west-1"}, "https://eu-west-1.console.aws.amazon.com/s3?region=eu-west-1"},
	}
	for i, tt := range tests {
		r := e.run(t, "", append([]string{"console", tt.profile, "--print"}, tt.args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("brokerd console %s --print: %v", tt.profile, r)
		}
		outputs["console "+tt.profile] = r.stdout
		link := strings.TrimSuffix(r.stdout, "\n")
		u, err := url.Parse(link)
		if err != nil || strings.Contains(link, "\n") || !strings.HasPrefix(link, fed.URL+"?") {
			t.Fatalf("brokerd console %s --print printed %q, want one URL of the federation endpoint", tt.profile, r.stdout)
		}
		q := u.Query()
		if q.Get("Action") != "login" || q.Get("Issuer") != "brokerd" || q.Get("Destination") != tt.wantDest || q.Get("SigninToken") == "" {
			t.Errorf("brokerd console %s: query %v, want a login to %s with a sign-in token", tt.profile, q, tt.wantDest)
		}
		reqs := fed.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("%d getSigninToken requests, want %d", len(reqs), i+1)
		}
		got := reqs[i].Credentials
		served := d.credentials(t, tt.profile)
		if tt.profile == prod {
			// The role's credentials, as brokerd serves them.
			if got.AccessKeyID != served.AccessKeyID || got.SecretAccessKey != served.SecretAccessKey || got.SessionToken != served.Token {
				t.Errorf("brokerd console %s signed in with key %s, want the served role credentials %s", prod, got.AccessKeyID, served.AccessKeyID)
			}
		} else {
			// A federation token of the IAM user, signed with its long-term
			// key: not its GetSessionToken session, nor the key itself.
			// (moto gives both kinds the same key id, but not the same token.)
			if got.SessionToken == served.Token || got.AccessKeyID == keys.ID || got.SessionToken == "" {
				t.Errorf("brokerd console %s signed in with key %s, want a federation token's credentials", dev, got.AccessKeyID)
			}
			if signers := proxy.signersOf("GetFederationToken"); len(signers) != 1 || signers[0] != keys.ID {
				t.Errorf("GetFederationToken calls signed by %q, want one signed by %s's long-term key %s", signers, dev, keys.masked())
			}
		}
		// The sign-in token came from the endpoint: it logs in, once.
		if status, loc := follow(t, link); status != http.StatusFound || loc != tt.wantDest {
			t.Errorf("GET the URL of brokerd console %s = %d to %q, want 302 to %s", tt.profile, status, loc, tt.wantDest)
		}
		if n := fed.Logins(); n != i+1 {
			t.Errorf("%d logins at the federation endpoint, want %d", n, i+1)
		}
	}

	// Without --print the URL goes to the browser ($BROWSER), not to the
	// terminal; with no browser at all, one line says what to do.
	opened := filepath.Join(e.Dir, "opened")
	browser := filepath.Join(e.Dir, "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+opened+".tmp && mv "+opened+".tmp "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := e.exec(t, map[string]string{"BROWSER": browser}, "", brokerdBin, "console", prod)
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "SigninToken") {
		t.Errorf("brokerd console %s with a browser: %v, want success without the URL shown", prod, r)
	}
	waitFor(t, "the browser to get the URL", func() bool { _, err := os.Stat(opened); return err == nil })
	if b, _ := os.ReadFile(opened); !strings.HasPrefix(string(b), fed.URL+"?Action=login") {
		t.Errorf("the browser got %q, want the sign-in URL", b)
	}
	wantOneLineError(t, e.exec(t, map[string]string{"DISPLAY": "", "WAYLAND_DISPLAY": "", "BROWSER": ""}, "", brokerdBin, "console", prod), "--print")
	wantOneLineError(t, e.run(t, "", "console", prod, "--duration", "1m"), "15m")

	// The URL holds the sign-in token: it is in no log.
	d.stop(t)
	if log := d.log(); strings.Contains(log, "SigninToken") || strings.Contains(log, fed.URL+"?") {
		t.Errorf("the daemon's log shows a sign-in URL:\n%s", log)
	}
}

// follow GETs link without following its redirect, and returns the status
// and Location.
func follow(t testing.TB, link string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", fmt.Sprintf("%.40s…", link), err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}
