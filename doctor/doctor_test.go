package doctor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/state"
)

var now = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// world is a daemon, state directory and shell for doctor to look at.
type world struct {
	env  Env
	vars map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case r.Header.Get("Authorization") != "tok":
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"code":"InvalidToken","message":"wrong token"}`))
		default:
			w.Write([]byte(`{"AccessKeyId":"ASIA","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-22T10:00:00Z"}`))
		}
	}))
	t.Cleanup(srv.Close)
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Publish(state.Endpoint{URL: srv.URL, PID: 42}); err != nil {
		t.Fatal(err)
	}
	if err := dir.WriteFile(state.TokenFile, []byte("tok")); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	w := &world{vars: map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     srv.URL + "/v1/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": dir.Join(state.TokenFile),
		"AWS_REGION":                             "eu-west-1",
		"AWS_DEFAULT_REGION":                     "eu-west-1",
	}}
	w.env = Env{
		Getenv:          func(k string) string { return w.vars[k] },
		State:           dir,
		ConfigFile:      filepath.Join(home, "config"),
		CredentialsFile: filepath.Join(home, "credentials"),
		Status: func(context.Context) (control.Status, error) {
			return control.Status{Endpoint: srv.URL, PID: 42}, nil
		},
		Keychain: func(context.Context) ([]string, error) { return []string{"dev"}, nil },
		STSTime:  func(context.Context) (time.Time, error) { return now, nil },
		Now:      func() time.Time { return now },
	}
	return w
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func find(checks []Check, name string) (Check, bool) {
	for _, c := range checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func TestRun_Healthy(t *testing.T) {
	w := newWorld(t)
	checks := Run(context.Background(), w.env)
	for _, c := range checks {
		if c.Level != OK {
			t.Errorf("check %s = %v %q, want ok", c.Name, c.Level, c.Message)
		}
	}
	if c, _ := find(checks, "environment"); !strings.Contains(c.Message, "valid for 1h0m0s") {
		t.Errorf("environment check = %q, want it to fetch credentials valid for 1h", c.Message)
	}
}

func TestRun_Shadowing(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		config  string
		creds   string
		check   string
		wantFix string
	}{
		{name: "access keys in env", vars: map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "x"}, check: "AWS_ACCESS_KEY_ID", wantFix: "unset AWS_ACCESS_KEY_ID"},
		{name: "secret only in env", vars: map[string]string{"AWS_SECRET_ACCESS_KEY": "x"}, check: "AWS_ACCESS_KEY_ID", wantFix: "unset"},
		{name: "AWS_PROFILE", vars: map[string]string{"AWS_PROFILE": "prod"}, check: "AWS_PROFILE", wantFix: "unset AWS_PROFILE"},
		{name: "relative URI", vars: map[string]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/x"}, check: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", wantFix: "unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"},
		{name: "web identity", vars: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, check: "AWS_WEB_IDENTITY_TOKEN_FILE", wantFix: "unset AWS_WEB_IDENTITY_TOKEN_FILE"},
		{name: "keys in default credentials", creds: "[default]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n", check: "credentials file", wantFix: "brokerd keys add"},
		// The SDKs merge the credentials file's sections into the profiles.
		{name: "default role_arn in credentials", creds: "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n", check: "credentials file", wantFix: "move those lines to a named [profile NAME] section"},
		{name: "default role_arn", config: "[default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n", check: "config file", wantFix: "[profile NAME]"},
		{name: "default sso", config: "[default]\nsso_session = corp\n", check: "config file", wantFix: "[profile NAME]"},
		{name: "default credential_process", config: "[default]\ncredential_process = x\n", check: "config file", wantFix: "[profile NAME]"},
		// The SDKs read [profile default] in place of [default].
		{name: "profile default role_arn", config: "[profile default]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n[profile dev]\nregion = eu-west-1\n", check: "config file", wantFix: "[profile NAME]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			for k, v := range tt.vars {
				w.vars[k] = v
			}
			if tt.config != "" {
				write(t, w.env.ConfigFile, tt.config)
			}
			if tt.creds != "" {
				write(t, w.env.CredentialsFile, tt.creds)
			}
			checks := Run(context.Background(), w.env)
			c, ok := find(checks, tt.check)
			if !ok || c.Level != Fail || !strings.Contains(c.Fix, tt.wantFix) {
				t.Errorf("check %s = %+v (found %v), want FAIL with fix containing %q", tt.check, c, ok, tt.wantFix)
			}
			if !Failed(checks) {
				t.Errorf("Failed(checks) = false, want true")
			}
		})
	}
}

func TestRun_NotShadowing(t *testing.T) {
	w := newWorld(t)
	w.vars["AWS_PROFILE"] = "prod-cli"
	write(t, w.env.ConfigFile, "[default]\nregion = eu-west-1\n[profile prod-cli]\ncredential_process = brokerd credential-process prod\n")
	write(t, w.env.CredentialsFile, "[dev]\naws_access_key_id = AKIAX\n[default]\ncredential_process = brokerd credential-process prod\n")
	checks := Run(context.Background(), w.env)
	if c, _ := find(checks, "shadowing"); c.Level != OK {
		t.Errorf("shadowing = %+v, want ok (region in [default], keys outside [default], AWS_PROFILE and the credentials file's [default] served by brokerd)", c)
	}
}

func TestRun_Problems(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *world)
		check  string
		level  Level
		want   string
	}{
		{"daemon not running", func(w *world) { os.Remove(w.env.State.Join(state.EndpointFile)) }, "daemon", Fail, "brokerd install"},
		{"no state dir", func(w *world) { w.env.StateErr = errors.New("XDG_RUNTIME_DIR is not set") }, "daemon", Fail, "BROKERD_STATE_DIR"},
		{"stale endpoint", func(w *world) { w.env.State.Publish(state.Endpoint{URL: "http://127.0.0.1:1"}) }, "daemon", Fail, "restart brokerd"},
		{"token readable by others", func(w *world) { os.Chmod(w.env.State.Join(state.TokenFile), 0o644) }, "token file", Fail, "chmod 600"},
		{"variables unset", func(w *world) { delete(w.vars, "AWS_CONTAINER_CREDENTIALS_FULL_URI") }, "environment", Fail, `eval "$(brokerd env)"`},
		{"other endpoint", func(w *world) { w.vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:1/v1/credentials" }, "environment", Fail, `eval "$(brokerd env)"`},
		{"other token file", func(w *world) { w.vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/tmp/x" }, "environment", Fail, `eval "$(brokerd env)"`},
		{"stale token", func(w *world) { w.env.State.WriteFile(state.TokenFile, []byte("old")) }, "environment", Fail, "follow the message"},
		{"keychain locked", func(w *world) {
			w.env.Keychain = func(context.Context) ([]string, error) { return nil, keychain.ErrLocked }
		}, "keychain", Fail, "unlock"},
		{"clock far off", func(w *world) {
			w.env.STSTime = func(context.Context) (time.Time, error) { return now.Add(-10 * time.Minute), nil }
		}, "clock", Fail, "network time"},
		{"clock a bit off", func(w *world) {
			w.env.STSTime = func(context.Context) (time.Time, error) { return now.Add(2 * time.Minute), nil }
		}, "clock", Warn, "network time"},
		{"chained role over an hour", func(w *world) {
			os.WriteFile(w.env.ConfigFile, []byte("[profile mid]\nrole_arn = arn:aws:iam::1:role/Mid\nsource_profile = dev\n"+
				"[profile prod]\nrole_arn = arn:aws:iam::1:role/Prod\nsource_profile = mid\nduration_seconds = 7200\n"), 0o600)
		}, "profile prod", Fail, "set duration_seconds = 3600 or less for profile prod"},
		{"session ending", func(w *world) {
			w.env.Status = func(context.Context) (control.Status, error) {
				return control.Status{Sessions: []control.Session{{Profile: "dev", Expires: now.Add(10 * time.Minute)}}}, nil
			}
		}, "MFA session dev", Warn, "brokerd login dev"},
		{"session expired", func(w *world) {
			w.env.Status = func(context.Context) (control.Status, error) {
				return control.Status{Sessions: []control.Session{{Profile: "dev", Expires: now.Add(-time.Minute)}}}, nil
			}
		}, "MFA session dev", Fail, "brokerd login dev"},
		{"session in its last seconds, no longer used", func(w *world) {
			w.env.Status = func(context.Context) (control.Status, error) {
				return control.Status{Sessions: []control.Session{{Profile: "dev", Expires: now.Add(30 * time.Second),
					UsedUntil: now.Add(-40 * time.Second)}}}, nil
			}
		}, "MFA session dev", Fail, "brokerd login dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.change(w)
			c, ok := find(Run(context.Background(), w.env), tt.check)
			if !ok || c.Level != tt.level || !strings.Contains(c.Fix, tt.want) {
				t.Errorf("check %s = %+v (found %v), want %v with fix containing %q", tt.check, c, ok, tt.level, tt.want)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	var b strings.Builder
	Print(&b, []Check{{"daemon", OK, "serving", ""}, {"AWS_PROFILE", Fail, "set", "unset AWS_PROFILE"}})
	want := "ok    daemon: serving\nFAIL  AWS_PROFILE: set\n      fix: unset AWS_PROFILE\n"
	if b.String() != want {
		t.Errorf("Print() = %q, want %q", b.String(), want)
	}
}

// A [default] that runs brokerd credential-process shadows the shell's
// profile only when it names another.
func TestRun_DefaultServedByBrokerd(t *testing.T) {
	const config = "[default]\nregion = eu-west-1\ncredential_process = brokerd credential-process prod\n"
	tests := []struct {
		name    string
		profile string // in the endpoint URL
		vars    map[string]string
		check   string
		level   Level
		want    string
	}{
		{"same profile", "prod", nil, "shadowing", OK, "nothing comes before"},
		{"other profile", "dev", nil, "config file", Fail, "SDKs get profile prod from brokerd, not this shell's dev"},
		{"AWS_PROFILE=default", "prod", map[string]string{"AWS_PROFILE": "default"}, "shadowing", OK, "nothing comes before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] += "/" + tt.profile
			for k, v := range tt.vars {
				w.vars[k] = v
			}
			write(t, w.env.ConfigFile, config)
			c, ok := find(Run(context.Background(), w.env), tt.check)
			if !ok || c.Level != tt.level || !strings.Contains(c.Message, tt.want) {
				t.Errorf("check %s = %+v (found %v), want %v with %q", tt.check, c, ok, tt.level, tt.want)
			}
		})
	}
}
