package deploy

import (
	"bytes"
	"flag"
	"github.com/brokerd/brokerd/wire"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"howett.net/plist"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./deploy -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./deploy -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// The installations of the golden files: the defaults, and flags with
// paths that need escaping.
var (
	linuxPlain = Options{GOOS: "linux", Binary: "/home/ana/.local/bin/brokerd", Home: "/home/ana", UID: 1000,
		StateDir: "/run/user/1000/brokerd", BinaryOnPath: true}
	linuxFlags = Options{GOOS: "linux", Binary: "/home/ana/R&D <tools>/100% brokerd", Home: "/home/ana", UID: 1000,
		StateDir: "/home/ana/brokerd state", ConfigFile: "/home/ana/work/aws config 100%", Listen: "localhost:9922", DefaultProfile: "prod", Region: "eu-west-1"}
	darwinPlain = Options{GOOS: "darwin", Binary: "/Users/ana/go/bin/brokerd", Home: "/Users/ana", UID: 501,
		StateDir: "/Users/ana/Library/Application Support/brokerd", BinaryOnPath: true}
	darwinFlags = Options{GOOS: "darwin", Binary: `/Users/ana/R&D <tools>/"it's" brokerd`, Home: "/Users/a&b", UID: 501,
		StateDir: "/Users/a&b/Library/Application Support/brokerd", ConfigFile: "/Users/a&b/work/<aws>", Listen: "127.0.0.1:9922", DefaultProfile: "prod"}
)

var goldenCases = []struct {
	name string
	o    Options
}{
	{"linux", linuxPlain},
	{"linux-flags", linuxFlags},
	{"darwin", darwinPlain},
	{"darwin-flags", darwinFlags},
}

func TestSystemdUnit_golden(t *testing.T) {
	for _, tc := range goldenCases {
		if tc.o.GOOS != "linux" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			unit, err := SystemdUnit(tc.o)
			if err != nil {
				t.Fatalf("SystemdUnit(%+v) = %v", tc.o, err)
			}
			golden(t, tc.name+".service.golden", unit)
			env, err := EnvironmentFile(tc.o)
			if err != nil {
				t.Fatalf("EnvironmentFile(%+v) = %v", tc.o, err)
			}
			golden(t, tc.name+".environment.golden", env)
		})
	}
}

func TestLaunchdPlist_golden(t *testing.T) {
	for _, tc := range goldenCases {
		if tc.o.GOOS != "darwin" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			b, err := LaunchdPlist(tc.o)
			if err != nil {
				t.Fatalf("LaunchdPlist(%+v) = %v", tc.o, err)
			}
			golden(t, tc.name+".plist.golden", b)
		})
	}
}

// TestLaunchdPlist_parses reads the plist back as launchd would and checks
// the keys that make it a crash-restarted, private, interactive agent.
func TestLaunchdPlist_parses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		args []string
		env  map[string]any // beside BROKERD_LAUNCHD and BROKERD_STATE_DIR
	}{
		{"darwin", darwinPlain, []string{darwinPlain.Binary, "serve"}, nil},
		{"darwin-flags", darwinFlags, []string{darwinFlags.Binary, "serve", "--listen", "127.0.0.1:9922", "--default-profile", "prod"},
			map[string]any{"AWS_CONFIG_FILE": darwinFlags.ConfigFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := LaunchdPlist(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			format, err := plist.Unmarshal(b, &p)
			if err != nil {
				t.Fatalf("plist.Unmarshal(%s) = %v", b, err)
			}
			if format != plist.XMLFormat {
				t.Errorf("format = %v, want XML", format)
			}
			logFile := tc.o.Home + "/Library/Logs/brokerd/brokerd.log"
			want := map[string]any{
				"Label":             "com.brokerd.agent",
				"ProgramArguments":  toAny(tc.args),
				"RunAtLoad":         true,
				"KeepAlive":         map[string]any{"SuccessfulExit": false},
				"Umask":             uint64(0o077),
				"StandardOutPath":   logFile,
				"StandardErrorPath": logFile,
				"EnvironmentVariables": map[string]any{
					"BROKERD_LAUNCHD":   "1",
					"BROKERD_STATE_DIR": tc.o.StateDir,
				},
			}
			maps.Copy(want["EnvironmentVariables"].(map[string]any), tc.env)
			for k, v := range want {
				if !reflect.DeepEqual(p[k], v) {
					t.Errorf("%s = %#v, want %#v", k, p[k], v)
				}
			}
			if pt, ok := p["ProcessType"]; ok {
				t.Errorf("ProcessType = %v, want none (Background would throttle the daemon)", pt)
			}
			if len(p) != len(want) {
				t.Errorf("plist has keys %v, want just those checked", keys(p))
			}
		})
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// systemdAnalyze finds systemd-analyze. CI must have it; elsewhere a test
// that needs it is skipped.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err == nil {
		return path
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" {
		t.Fatalf("systemd-analyze is required in CI (Debian: apt-get install systemd): %v", err)
	}
	t.Skipf("systemd-analyze not found (Debian: apt-get install systemd); with CI=true this fails: %v", err)
	return ""
}

// verifyUnit runs `systemd-analyze --user verify` on unit and returns what
// it printed.
func verifyUnit(t *testing.T, unit []byte) (stdout, stderr string, err error) {
	t.Helper()
	analyze := systemdAnalyze(t)
	dir := t.TempDir()
	runtime := filepath.Join(dir, "runtime") // the user manager needs one
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, Unit)
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "--user", "verify", path)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+runtime, "SYSTEMD_COLORS=0")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// fakeBinary makes an executable for ExecStart in a directory whose name
// needs quoting and escaping in a unit file.
func fakeBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "R&D <tools> 100%")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "brokerd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestSystemdUnit_verify checks that systemd itself accepts the unit
// without a single warning, with an ExecStart that must be unescaped right
// to name the real (oddly named) binary.
func TestSystemdUnit_verify(t *testing.T) {
	bin := fakeBinary(t)
	for _, tc := range goldenCases {
		if tc.o.GOOS != "linux" {
			continue
		}
		o := tc.o
		o.Binary = bin
		t.Run(tc.name, func(t *testing.T) {
			unit, err := SystemdUnit(o)
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := verifyUnit(t, unit)
			if err != nil || stderr != "" || stdout != "" {
				t.Errorf("systemd-analyze --user verify = %v\nstderr: %s\nstdout: %s\nunit:\n%s", err, stderr, stdout, unit)
			}
		})
	}
}

// TestSystemdUnit_verifyCatches shows that the harness above notices what
// systemd warns about, so its silence means something.
func TestSystemdUnit_verifyCatches(t *testing.T) {
	o := linuxPlain
	o.Binary = fakeBinary(t)
	unit, err := SystemdUnit(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, unit, want string }{
		{"unknown key", strings.Replace(string(unit), "[Service]\n", "[Service]\nProtectSystm=strict\n", 1), "Unknown key"},
		{"missing binary", strings.Replace(string(unit), "ExecStart=", "ExecStart=/nonexistent", 1), "not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, _ := verifyUnit(t, []byte(tc.unit))
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("systemd-analyze --user verify stderr = %q, want it to mention %q", stderr, tc.want)
			}
		})
	}
}

func TestOptions_Vars(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want [][2]string
	}{
		{linuxPlain, [][2]string{
			{wire.VarURL, "http://127.0.0.1:9911/v1/credentials"},
			{wire.VarTokenFile, "/run/user/1000/brokerd/token"},
		}},
		{linuxFlags, [][2]string{
			{wire.VarURL, "http://127.0.0.1:9922/v1/credentials"},
			{wire.VarTokenFile, "/home/ana/brokerd state/token"},
		}},
		{darwinPlain, [][2]string{
			{wire.VarURL, "http://127.0.0.1:9911/v1/credentials"},
			{wire.VarTokenFile, "/Users/ana/Library/Application Support/brokerd/token"},
		}},
	} {
		got, err := tc.o.Vars()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Options{Listen: %q, StateDir: %q}.Vars() = %q, %v, want %q", tc.o.Listen, tc.o.StateDir, got, err, tc.want)
		}
	}
}

func TestOptions_check(t *testing.T) {
	with := func(o Options, f func(*Options)) Options { f(&o); return o }
	for _, tc := range []struct {
		name string
		o    Options
		want string // in the error; empty: no error
	}{
		{"linux", linuxPlain, ""},
		{"darwin", darwinFlags, ""},
		{"windows", with(linuxPlain, func(o *Options) { o.GOOS = "windows" }), "not on windows"},
		{"relative binary", with(linuxPlain, func(o *Options) { o.Binary = "bin/brokerd" }), "not absolute"},
		{"home with a slash at the end, as $HOME may have it", with(linuxPlain, func(o *Options) { o.Home = "/home/ana/" }), ""},
		{"home with //", with(darwinPlain, func(o *Options) { o.Home = "/Users//ana" }), ""},
		{"relative home", with(linuxPlain, func(o *Options) { o.Home = "home/ana" }), "not absolute and clean"},
		{"no state dir", with(linuxPlain, func(o *Options) { o.StateDir = "" }), "state directory is not known"},
		{"newline", with(darwinPlain, func(o *Options) { o.Binary = "/Users/ana/a\nb" }), "control character"},
		{"quote on linux", with(linuxPlain, func(o *Options) { o.Binary = `/home/ana/"x"/brokerd` }), "systemd"},
		{"dollar on linux", with(linuxPlain, func(o *Options) { o.StateDir = "/home/ana/$x" }), "systemd"},
		{"quote in the config file on linux", with(linuxPlain, func(o *Options) { o.ConfigFile = `/home/ana/"aws"` }), "systemd"},
		{"relative config file", with(linuxPlain, func(o *Options) { o.ConfigFile = "aws/config" }), "not absolute"},
		{"backslash on linux", with(linuxPlain, func(o *Options) { o.Binary = `/home/ana/a\b` }), "systemd"},
		{"port 0", with(linuxPlain, func(o *Options) { o.Listen = "127.0.0.1:0" }), "fixed port"},
		{"no port", with(linuxPlain, func(o *Options) { o.Listen = "127.0.0.1" }), "want 127.0.0.1:PORT"},
		{"all interfaces", with(linuxPlain, func(o *Options) { o.Listen = "0.0.0.0:9911" }), "not a loopback"},
		{"IPv6 loopback, which the daemon refuses", with(linuxPlain, func(o *Options) { o.Listen = "[::1]:9911" }), "use 127.0.0.1:PORT"},
		{"port 80", with(linuxPlain, func(o *Options) { o.Listen = "127.0.0.1:80" }), "port 80 is not supported"},
		{"bad profile", with(linuxPlain, func(o *Options) { o.DefaultProfile = "a b" }), "--default-profile"},
		{"bad region", with(linuxPlain, func(o *Options) { o.Region = "eu west 1" }), "not a region name"},
		{"region expanding", with(linuxPlain, func(o *Options) { o.Region = "${HOME}" }), "not a region name"},
		{"negative uid", with(darwinPlain, func(o *Options) { o.UID = -1 }), "user id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("check(%+v) = %v, want %q", tc.o, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("check(%+v) = %q, want one line", tc.o, err)
			}
		})
	}
}

func TestCheckBinary(t *testing.T) {
	temps := []string{"/tmp", "/private/var/folders/xy/T"}
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/home/ana/go/bin/brokerd", true},
		{"/usr/local/bin/brokerd", true},
		{"/home/ana/go-builder/brokerd", true},
		{"/tmp/go-build2670191731/b001/exe/brokerd", false},
		{"/tmp/brokerd", false},
		{"/private/var/folders/xy/T/go-build1/b001/exe/brokerd", false},
		{"/home/ana/gotmp/go-build42/b001/exe/brokerd", false}, // GOTMPDIR
		// A home in /tmp (a CI runner's) is where the user keeps things.
		{"/tmp/home/.local/bin/brokerd", true},
		{"/tmp/home/go-build1/b001/exe/brokerd", false},
		{"/tmp/other/brokerd", false},
	} {
		err := checkBinary(tc.path, temps, "/tmp/home")
		if (err == nil) != tc.ok {
			t.Errorf("checkBinary(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "go install") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("checkBinary(%q) = %q, want one line saying to go install", tc.path, err)
		}
	}
	// A home at / does not make /tmp the user's.
	if err := checkBinary("/tmp/brokerd", temps, "/"); err == nil {
		t.Errorf("checkBinary(%q) with home / = nil, want a refusal", "/tmp/brokerd")
	}
}
