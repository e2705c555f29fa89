package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/docker"
)

// imageUser answers docker image inspect with a USER.
type imageUser string

func (u imageUser) Docker(_ context.Context, args ...string) ([]byte, error) {
	if u == "!" {
		return nil, &docker.Error{Args: args, Message: "No such image"}
	}
	return []byte(string(u) + "\n"), nil
}

func TestReaderUID(t *testing.T) {
	tests := []struct {
		user  string    // --user
		image imageUser // the image's USER
		args  string    // other docker run options
		self  int       // brokerd's uid
		want  int
	}{
		{"", "", "", 1000, 0},
		{"", "!", "", 1000, 0},
		{"root", "", "", 1000, 0},
		{"0:0", "", "", 1000, 0},
		{"1001:1001", "", "", 1000, 1001},
		{"", "1002", "", 1000, 1002},
		{"", "app:app", "", 1000, -1},
		{"nobody", "", "", 1000, -1},
		// A root without CAP_DAC_OVERRIDE reads only what it owns.
		{"", "", "--cap-drop ALL", 1000, -1},
		{"", "", "--cap-drop=dac_override", 1000, -1},
		{"root", "", "--cap-drop CAP_DAC_OVERRIDE", 1000, -1},
		{"", "", "--cap-drop ALL --cap-add DAC_OVERRIDE", 1000, 0},
		{"", "", "--cap-drop NET_RAW", 1000, 0},
		{"", "", "--cap-drop ALL", 0, 0},
	}
	for _, tt := range tests {
		opts, err := docker.ParseRunArgs(append(strings.Fields(tt.args), "img"))
		if err != nil {
			t.Fatal(err)
		}
		opts.User = tt.user
		got := readerUID(context.Background(), tt.image, opts, tt.self)
		if got != tt.want {
			t.Errorf("readerUID(--user %q, USER %q, %s, as uid %d) = %d, want %d", tt.user, tt.image, tt.args, tt.self, got, tt.want)
		}
	}
}

func TestTokenFlags_TTL(t *testing.T) {
	for ttl, ok := range map[time.Duration]bool{0: true, 2 * time.Second: true, 90 * time.Minute: true, 500 * time.Millisecond: false, 1500 * time.Millisecond: false} {
		f := tokenFlags{ttl: ttl}
		req, err := f.request("prod", "web")
		if (err == nil) != ok || ok && req.TTLSeconds != int(ttl/time.Second) {
			t.Errorf("--ttl %v: %+v, %v; want ok %v", ttl, req, err, ok)
		}
	}
}

// A label left to its default is made of the profile, image or container
// name, which may hold characters a label cannot, or be longer.
func TestTokenFlags_DefaultLabel(t *testing.T) {
	long := strings.Repeat("a", 80)
	tests := []struct {
		flag, name, want string
	}{
		{"", "prod", "prod"},
		{"", "team@prod", "team-prod"},
		{"", "ops,eu", "ops-eu"},
		{"", ".hidden", "hidden"},
		{"", "日本", "container"},
		{"", long, long[:64]},
		{"web", "team@prod", "web"},
	}
	for _, tt := range tests {
		f := tokenFlags{label: tt.flag}
		req, err := f.request("p", tt.name)
		if err != nil || req.Label != tt.want {
			t.Errorf("request(label %q, default %q) = %q, %v; want %q", tt.flag, tt.name, req.Label, err, tt.want)
		}
	}
}

// Away from a terminal's foreground, docker runs in a process group of its
// own: a signal sent to brokerd's group (timeout(1), a CI runner) reaches it
// once, through brokerd, not twice. The test runs as brokerd in a group of
// its own, and as docker, which says whether it shares brokerd's group.
func TestRunForwarding_OwnGroup(t *testing.T) {
	switch os.Getenv("BROKERD_TEST_FORWARD") {
	case "docker":
		fmt.Print(syscall.Getpgrp() == mustPgid(os.Getppid()))
		os.Exit(0)
	case "brokerd":
		run := exec.Command(os.Args[0], "-test.run=^TestRunForwarding_OwnGroup$")
		run.Env = append(os.Environ(), "BROKERD_TEST_FORWARD=docker")
		run.Stdout = os.Stdout
		if err := runForwarding(run); err != nil {
			fmt.Print(err)
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunForwarding_OwnGroup$")
	cmd.Env = append(os.Environ(), "BROKERD_TEST_FORWARD=brokerd")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.Output()
	if err != nil || string(out) != "false" {
		t.Errorf("docker in brokerd's process group: %q, %v; want false", out, err)
	}
}

func mustPgid(pid int) int {
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		panic(err)
	}
	return pgid
}

// A wrong --upstream is refused before setup replaces a relay with one
// that would restart over and over.
func TestDockerSetup_Upstream(t *testing.T) {
	t.Setenv("BROKERD_STATE_DIR", t.TempDir())
	for _, upstream := range []string{"foo", "https://host.docker.internal:9911", "http://host.docker.internal"} {
		err := run(context.Background(), []string{"docker", "setup", "--upstream", upstream}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "want http://HOST:PORT") {
			t.Errorf("brokerd docker setup --upstream %q = %v, want the upstream refused", upstream, err)
		}
	}
}

func TestPrintContainers(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.Local)
	used, revoked := now.Add(-5*time.Minute), now.Add(-time.Hour)
	var b bytes.Buffer
	printContainers(&b, []control.ContainerToken{
		{ID: "c0a1b2c3d", Label: "web", Profiles: []string{"prod", "dev"}, Expires: now.Add(2 * time.Hour), LastUsed: &used, ContainerID: strings.Repeat("ab", 32)},
		{ID: "c11111111", Label: "old", Profiles: []string{"prod"}, Expires: now.Add(time.Hour), Revoked: &revoked},
	}, now)
	out := b.String()
	for _, want := range []string{"CONTAINER TOKEN", "c0a1b2c3d        web", "prod,dev", "2h0m0s", "5m0s ago", "abababababab", "revoked 1h0m0s ago", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("printContainers =\n%s\nwant %q", out, want)
		}
	}
	b.Reset()
	printContainers(&b, nil, now)
	if b.Len() != 0 {
		t.Errorf("printContainers(none) = %q, want nothing", b.String())
	}
}

// Variables that come before the endpoint in SDKs' chains are named: with
// -e AWS_PROFILE and a mounted ~/.aws the Go SDK failed on the profile's
// source keys, with -e AWS_ACCESS_KEY_ID it used those keys, and nothing
// said why the container did not get the profile's credentials.
func TestShadowing(t *testing.T) {
	t.Setenv("AWS_SESSION_TOKEN", "x")
	os.Unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	tests := []struct {
		args string
		want []string
	}{
		{"-e A=1 --env AWS_REGION=x img", nil},
		{"-e AWS_PROFILE=prod -v /h/.aws:/root/.aws img", []string{"AWS_PROFILE"}},
		{"-e AWS_ACCESS_KEY_ID=AKIA -eAWS_SECRET_ACCESS_KEY=s -e AWS_SESSION_TOKEN img", []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}},
		{"-e AWS_WEB_IDENTITY_TOKEN_FILE img", nil}, // unset here: docker leaves it out
		{"img -e AWS_PROFILE=x", nil},
	}
	for _, tt := range tests {
		opts, err := docker.ParseRunArgs(strings.Fields(tt.args))
		if got := shadowing(opts.Env); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("shadowing(ParseRunArgs(%q).Env) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
}

// Options brokerd sets itself are refused with what to do instead: the
// refusal of --network myapp said to connect it afterwards, which an
// attached docker run leaves no time for, and of --network host nothing
// of why a container there gets no credentials.
func TestGivenError(t *testing.T) {
	tests := []struct {
		args string
		want []string
	}{
		{"--network host img", []string{"--network host", "cannot reach the relay", "drop --network host"}},
		{"--net=my-app img", []string{"network my-app too", "id=$(docker create $(brokerd docker token 'team prod') [OPTIONS] IMAGE) && docker network connect my-app \"$id\" && docker start -a \"$id\""}},
		{"--network brokerd --cidfile /c img", []string{"sets --network, --cidfile itself"}},
		{"--network none img", []string{"sets --network itself"}},
	}
	for _, tt := range tests {
		opts, err := docker.ParseRunArgs(strings.Fields(tt.args))
		if err != nil {
			t.Fatal(err)
		}
		got := givenError("team prod", opts).Error()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("givenError(%q) = %q, want it to say %q", tt.args, got, w)
			}
		}
	}
}
