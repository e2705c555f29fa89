package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/deploy"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/state"
)

// fakeDaemon answers Resolve from regions (profile → region); "" asks for
// the default, prod. Other calls panic.
type fakeDaemon struct {
	control.Service
	regions map[string]string
}

func (f fakeDaemon) Resolve(_ context.Context, name string) (control.Resolved, error) {
	if name == "" {
		name = "prod"
	}
	r, ok := f.regions[name]
	if !ok {
		return control.Resolved{}, &fault.Error{Kind: fault.NotFound, Code: "ProfileNotFound", Message: "no profile " + name}
	}
	return control.Resolved{Profile: name, Region: r}, nil
}

// shellWorld is a state directory and home for shellVars; serve starts a
// daemon that answers with d.
type shellWorld struct {
	dir  state.Dir
	home string
}

func newShellWorld(t *testing.T) *shellWorld {
	short, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	dir, err := state.Open(filepath.Join(short, "s"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("BROKERD_STATE_DIR", dir.Path)
	t.Setenv("HOME", home)
	return &shellWorld{dir: dir, home: home}
}

func (w *shellWorld) serve(t *testing.T, d control.Service) {
	ln, err := net.Listen("unix", w.dir.Join(state.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: control.Handler(d, zap.NewNop())}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if err := w.dir.Publish(state.Endpoint{URL: "http://127.0.0.1:4242", PID: 1}); err != nil {
		t.Fatal(err)
	}
}

func getenv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestShellVars_daemonAnswers(t *testing.T) {
	w := newShellWorld(t)
	w.serve(t, fakeDaemon{regions: map[string]string{"prod": "eu-west-1", "dev": "us-east-1", "ci": ""}})
	token := w.dir.Join(state.TokenFile)
	tests := []struct {
		name   string
		env    func(string) string
		want   [][2]string
		errSay string
	}{
		{"", getenv(), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "prod"}, {"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "eu-west-1"}, {"BROKERD_REGION", "eu-west-1"}}, ""},
		// The user's region stays; the aws CLI v1's variable gets it too.
		{"prod", getenv("AWS_REGION", "ap-south-1"), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/prod"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "prod"}, {"AWS_DEFAULT_REGION", "ap-south-1"}}, ""},
		// The region brokerd gave dev before is replaced by prod's.
		{"prod", getenv("BROKERD_PROFILE", "dev", "AWS_REGION", "us-east-1", "AWS_DEFAULT_REGION", "us-east-1"), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/prod"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "prod"}, {"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "eu-west-1"}, {"BROKERD_REGION", "eu-west-1"}}, ""},
		// The region brokerd gave prod before its region changed is replaced.
		{"prod", getenv("BROKERD_PROFILE", "prod", "BROKERD_REGION", "us-west-2", "AWS_REGION", "us-west-2", "AWS_DEFAULT_REGION", "us-west-2"), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/prod"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "prod"}, {"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "eu-west-1"}, {"BROKERD_REGION", "eu-west-1"}}, ""},
		// A region the user set since is the user's.
		{"prod", getenv("BROKERD_PROFILE", "prod", "BROKERD_REGION", "us-west-2", "AWS_REGION", "ap-south-1", "AWS_DEFAULT_REGION", "us-west-2"), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/prod"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "prod"}, {"AWS_DEFAULT_REGION", "ap-south-1"}, {"BROKERD_REGION", ""}}, ""},
		{"ci", getenv(), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/ci"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "ci"}}, ""},
		// The region brokerd gave prod is no region of ci's.
		{"ci", getenv("BROKERD_PROFILE", "prod", "AWS_REGION", "eu-west-1", "AWS_DEFAULT_REGION", "eu-west-1"), [][2]string{
			{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/ci"},
			{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
			{"BROKERD_PROFILE", "ci"}, {"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", ""}}, ""},
		{"prdo", getenv(), nil, "no profile prdo"},
	}
	e := &env{}
	for _, tt := range tests {
		vars, warnings, err := e.shellVars(context.Background(), tt.name, tt.env)
		if tt.errSay != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errSay) {
				t.Errorf("shellVars(%q) = %v, want an error saying %q", tt.name, err, tt.errSay)
			}
			continue
		}
		if err != nil || len(warnings) > 0 || !slices.Equal(vars, tt.want) {
			t.Errorf("shellVars(%q) = %q, %q, %v, want %q", tt.name, vars, warnings, err, tt.want)
		}
	}
	// exec resolves the same way, and refuses what the daemon does not know.
	vars, err := e.execVars(context.Background(), "dev", getenv())
	if want := [][2]string{
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/dev"},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
		{"BROKERD_PROFILE", "dev"}, {"AWS_REGION", "us-east-1"}, {"AWS_DEFAULT_REGION", "us-east-1"}, {"BROKERD_REGION", "us-east-1"}}; err != nil || !slices.Equal(vars, want) {
		t.Errorf("execVars(dev) = %q, %v, want %q", vars, err, want)
	}
	vars, err = e.execVars(context.Background(), "ci", getenv("BROKERD_PROFILE", "dev", "AWS_REGION", "us-east-1"))
	if want := [][2]string{
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:4242/v1/credentials/ci"},
		{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
		{"BROKERD_PROFILE", "ci"}, {"AWS_REGION", ""}}; err != nil || !slices.Equal(vars, want) {
		t.Errorf("execVars(ci) in a shell of dev = %q, %v, want %q", vars, err, want)
	}
	if _, err := e.execVars(context.Background(), "nowhere", getenv()); err == nil || !strings.Contains(err.Error(), "no profile nowhere") {
		t.Errorf("execVars(nowhere) = %v, want the daemon's refusal", err)
	}
}

// TestShellVars_daemonDown checks that env prints what works once the
// daemon runs: the installed service's endpoint, profile and region, with
// a warning that says what SDKs do meanwhile.
func TestShellVars_daemonDown(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the installed settings read here are Linux's environment.d file")
	}
	w := newShellWorld(t)
	e := &env{}
	token := w.dir.Join(state.TokenFile)

	vars, warnings, err := e.shellVars(context.Background(), "", getenv())
	want := [][2]string{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9911/v1/credentials"}, {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token}}
	if err != nil || !slices.Equal(vars, want) {
		t.Errorf("shellVars() with nothing installed = %q, %v, want %q", vars, err, want)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "No such file or directory: '"+token+"'") || !strings.Contains(warnings[0], "brokerd install") ||
		!strings.Contains(warnings[1], "region of the daemon's default profile is not known") {
		t.Errorf("warnings = %q, want what SDKs say meanwhile and how to start brokerd, and that the region is not known", warnings)
	}

	// The binary the service runs is there (were it gone, the advice
	// would be to install again).
	bin := filepath.Join(w.home, ".local", "bin", "brokerd")
	if err := os.MkdirAll(filepath.Dir(bin), 0o700); err != nil || os.WriteFile(bin, nil, 0o755) != nil {
		t.Fatal(err)
	}
	o := deploy.Options{GOOS: "linux", Binary: bin, Home: w.home, UID: 1000, StateDir: w.dir.Path,
		Listen: "127.0.0.1:9922", DefaultProfile: "prod", Region: "eu-west-1"}
	p, err := deploy.Install(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files() {
		os.MkdirAll(filepath.Dir(f.Path), 0o700)
		if err := os.WriteFile(f.Path, f.Content, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	vars, warnings, err = e.shellVars(context.Background(), "", getenv())
	want = [][2]string{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9922/v1/credentials"}, {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
		{"BROKERD_PROFILE", "prod"}, {"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "eu-west-1"}, {"BROKERD_REGION", "eu-west-1"}}
	if err != nil || !slices.Equal(vars, want) {
		t.Errorf("shellVars() with a service installed = %q, %v, want %q", vars, err, want)
	}
	// Another profile's region is not known: brokerd's stays as it is.
	vars, _, err = e.shellVars(context.Background(), "staging", getenv("BROKERD_PROFILE", "prod", "BROKERD_REGION", "eu-west-1", "AWS_REGION", "eu-west-1", "AWS_DEFAULT_REGION", "eu-west-1"))
	want = [][2]string{{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9922/v1/credentials/staging"}, {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token},
		{"BROKERD_PROFILE", "staging"}}
	if err != nil || !slices.Equal(vars, want) {
		t.Errorf("shellVars(staging) with the daemon down = %q, %v, want %q", vars, err, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "systemctl --user start brokerd") {
		t.Errorf("warnings = %q, want one saying to start the installed service", warnings)
	}
}

// TestShellVars_daemonKilled checks what env says of a daemon killed
// (kill -9, a crash), which left its token file: SDKs find the file and
// fail to connect, not to read it, as env said ("No such file or
// directory") while `brokerd doctor` said the right thing.
func TestShellVars_daemonKilled(t *testing.T) {
	w := newShellWorld(t)
	e := &env{}
	token := w.dir.Join(state.TokenFile)
	if err := os.WriteFile(token, []byte("left by a daemon killed with -9"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, warnings, err := e.shellVars(context.Background(), "", getenv())
	if err != nil || len(warnings) == 0 {
		t.Fatalf("shellVars() with a killed daemon's token file = %q, %v, want warnings", warnings, err)
	}
	want := "brokerd does not answer (it stopped without cleaning up: killed, or crashed); the lines below work once it runs, " +
		"until then SDKs in this shell fail with `Could not connect to the endpoint URL: \"http://127.0.0.1:9911/v1/credentials…\"`: " +
		"start it with `brokerd install` (a user service) or `brokerd serve`"
	if runtime.GOOS == "linux" && warnings[0] != want {
		t.Errorf("warnings[0] = %q, want %q", warnings[0], want)
	}
	if strings.Contains(warnings[0], "No such file") || strings.Contains(warnings[0], "left by") {
		t.Errorf("warnings[0] = %q, want no \"No such file\" for a token file that is there, nor its content", warnings[0])
	}
}

// TestShellVars_keysInTheShell checks that env warns of keys in the
// shell's environment, which SDKs use before the endpoint it points them
// at: `eval "$(brokerd env)"` then changed nothing, silently, and the aws
// CLI went on signing with those keys. The keys are never shown.
func TestShellVars_keysInTheShell(t *testing.T) {
	w := newShellWorld(t)
	w.serve(t, fakeDaemon{regions: map[string]string{"prod": "eu-west-1"}})
	e := &env{}
	tests := []struct {
		env  []string
		want string // "" for no warning
	}{
		{nil, ""},
		{[]string{"AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN"}, ""},
		{[]string{"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
			"this shell sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, which AWS SDKs and the aws CLI use before brokerd's endpoint: " +
				"run `unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY` (or `brokerd exec PROFILE` for one command, which leaves them out)"},
		{[]string{"AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN"},
			"this shell sets AWS_SESSION_TOKEN, AWS_ACCESS_KEY, AWS_SECRET_KEY, which AWS SDKs and the aws CLI use before brokerd's endpoint: " +
				"run `unset AWS_SESSION_TOKEN AWS_ACCESS_KEY AWS_SECRET_KEY` (or `brokerd exec PROFILE` for one command, which leaves them out)"},
	}
	for _, tt := range tests {
		_, warnings, err := e.shellVars(context.Background(), "", getenv(tt.env...))
		if err != nil {
			t.Fatalf("shellVars() with %q = %v", tt.env, err)
		}
		if (tt.want == "") != (len(warnings) == 0) || (tt.want != "" && warnings[0] != tt.want) {
			t.Errorf("shellVars() with %q: warnings = %q, want %q", tt.env, warnings, tt.want)
		}
		for _, w := range warnings {
			if strings.Contains(w, "EXAMPLE") {
				t.Errorf("shellVars() with %q: warning %q shows a key", tt.env, w)
			}
		}
	}
}
