package docker_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/wire"
)

func TestParseRunArgs(t *testing.T) {
	tests := []struct {
		args   string
		user   string
		detach bool
		image  string
		given  []string
	}{
		{"--rm -it app", "", false, "app", nil},
		{"-dit --name web -p 8080:80 my/app:1 serve --port 80 --name x", "", true, "my/app:1", nil},
		{"--user 1001:1001 --env A=1 app -u 5", "1001:1001", false, "app", nil},
		{"-u=alice -e AWS_CONTAINER_AUTHORIZATION_TOKEN=x app", "alice", false, "app", []string{"-e AWS_CONTAINER_AUTHORIZATION_TOKEN"}},
		{"-itu0 app", "0", false, "app", nil},
		{"--detach=true --network host --cidfile /x app", "", true, "app", []string{"--network", "--cidfile"}},
		{"--sig-proxy=false --read-only -- app", "", false, "app", nil},
		{"-v /a:/b -w /src --entrypoint sh app -c 'x'", "", false, "app", nil},
	}
	for _, tt := range tests {
		got, err := docker.ParseRunArgs(strings.Fields(tt.args))
		if strings.Contains(tt.args, "--name web") && got.Name != "web" {
			t.Errorf("ParseRunArgs(%q).Name = %q, want web", tt.args, got.Name)
		}
		if err != nil || got.User != tt.user || got.Detach != tt.detach || got.Image != tt.image || !slices.Equal(got.Given, tt.given) {
			t.Errorf("ParseRunArgs(%q) = %+v, %v; want user %q detach %v image %q given %q", tt.args, got, err, tt.user, tt.detach, tt.image, tt.given)
		}
	}
	for _, bad := range []string{"--rm", "--name", "-e"} {
		if _, err := docker.ParseRunArgs(strings.Fields(bad)); err == nil {
			t.Errorf("ParseRunArgs(%q) = nil error", bad)
		}
	}
}

// An env file is docker's business unless it sets what brokerd sets.
func TestParseRunArgs_EnvFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		file  string
		given []string
	}{
		{"FOO=1\n# AWS_CONTAINER_X=comment\nBAR\n", nil},
		{"FOO=1\n  AWS_CONTAINER_AUTHORIZATION_TOKEN=x\nAWS_CONTAINER_CREDENTIALS_RELATIVE_URI\n",
			[]string{"AWS_CONTAINER_AUTHORIZATION_TOKEN (in --env-file F)", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (in --env-file F)"}},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(path, []byte(tt.file), 0o600)
		got, err := docker.ParseRunArgs([]string{"--env-file", path, "app"})
		for j := range tt.given {
			tt.given[j] = strings.ReplaceAll(tt.given[j], " F)", " "+path+")")
		}
		if err != nil || got.Image != "app" || !slices.Equal(got.Given, tt.given) {
			t.Errorf("ParseRunArgs(--env-file %q) = %+v, %v; want given %q", tt.file, got, err, tt.given)
		}
	}
}

// A container with a restart policy runs again after docker run returns.
func TestRunOptions_Restarts(t *testing.T) {
	tests := []struct {
		args string
		want bool
	}{
		{"app", false},
		{"--restart no app", false},
		{"--restart=always app", true},
		{"--restart on-failure:3 app", true},
		{"-d --restart unless-stopped app", true},
		{"app --restart always", false},
	}
	for _, tt := range tests {
		opts, err := docker.ParseRunArgs(strings.Fields(tt.args))
		if got := opts.Restarts(); err != nil || got != tt.want {
			t.Errorf("ParseRunArgs(%q).Restarts() = %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
}

// A region the docker run options set, in either variable, is the
// container's in both: docker takes a later -e over brokerd's, and SDKs
// read one or the other (botocore AWS_DEFAULT_REGION, Go AWS_REGION first).
func TestRunOptions_Region(t *testing.T) {
	t.Setenv("AWS_REGION", "from-env")
	os.Unsetenv("AWS_DEFAULT_REGION")
	dir := t.TempDir()
	file := func(text string) string {
		path := filepath.Join(dir, fmt.Sprint(len(text)))
		os.WriteFile(path, []byte(text), 0o600)
		return path
	}
	tests := []struct {
		args   []string
		region string
		own    bool
	}{
		{[]string{"app"}, "profile-1", false},
		{[]string{"-e", "AWS_REGION=us-west-2", "app"}, "us-west-2", true},
		{[]string{"--env=AWS_DEFAULT_REGION=ap-south-1", "app"}, "ap-south-1", true},
		{[]string{"-eAWS_REGION=a", "-e", "AWS_REGION=b", "app"}, "b", true},
		{[]string{"-e", "AWS_REGION=a", "-e", "AWS_DEFAULT_REGION=b", "app"}, "", true},
		{[]string{"-e", "AWS_REGION", "app"}, "from-env", true},           // docker's environment
		{[]string{"-e", "AWS_DEFAULT_REGION", "app"}, "profile-1", false}, // unset: docker leaves it out
		{[]string{"-e", "AWS_REGION_X=1", "-e", "REGION=2", "app"}, "profile-1", false},
		{[]string{"--env-file", file("\ufeffAWS_DEFAULT_REGION=eu-north-1\r\n# c\nX=1\n"), "app"}, "eu-north-1", true},
		// An -e wins over an --env-file, whatever their order.
		{[]string{"-e", "AWS_REGION=flag", "--env-file", file("AWS_REGION=file\n"), "app"}, "flag", true},
		{[]string{"--env-file", file("AWS_REGION=file\nAWS_DEFAULT_REGION=file2\n"), "app"}, "", true},
		{[]string{"app", "-e", "AWS_REGION=arg-of-the-command"}, "profile-1", false},
	}
	for _, tt := range tests {
		opts, err := docker.ParseRunArgs(tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if region, own := opts.Region("profile-1"); region != tt.region || own != tt.own {
			t.Errorf("ParseRunArgs(%q).Region(profile-1) = %q, %v; want %q, %v", tt.args, region, own, tt.region, tt.own)
		}
	}
}

func TestClient_Args(t *testing.T) {
	c := docker.Client{Profile: "a,b", HostTokenFile: "/s/containers/c1/token", CIDFile: "/s/containers/c1/cid", Region: "eu-west-1"}
	want := "--network brokerd --cap-drop NET_RAW --cidfile /s/containers/c1/cid --env AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.2/v1/credentials/a%2Cb " +
		"--env AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/brokerd/token --mount type=bind,source=/s/containers/c1/token,target=/run/brokerd/token,readonly " +
		"--env AWS_REGION=eu-west-1 --env AWS_DEFAULT_REGION=eu-west-1"
	if got := strings.Join(c.Args(), " "); got != want {
		t.Errorf("Args =\n%s\nwant\n%s", got, want)
	}
	c = docker.Client{Profile: "p", TokenEnv: true}
	got := strings.Join(c.Args(), " ")
	if !strings.Contains(got, "--env AWS_CONTAINER_AUTHORIZATION_TOKEN ") && !strings.HasSuffix(got, "--env AWS_CONTAINER_AUTHORIZATION_TOKEN") ||
		strings.Contains(got, "TOKEN_FILE") || strings.Contains(got, "--mount") || strings.Contains(got, "AWS_REGION") {
		t.Errorf("Args with TokenEnv = %s: want the variable's name only, no file, no region", got)
	}
	c = docker.Client{Profile: "p", HostTokenFile: "/t", KeepNetRaw: true}
	if got := strings.Join(c.Args(), " "); strings.Contains(got, "--cap-drop") {
		t.Errorf("Args with KeepNetRaw = %s, want no --cap-drop", got)
	}
}

// A container keeps CAP_NET_RAW, with which it forges ARP answers for the
// relay's address, only when its options give it back; they are named in
// a warning, with the other options that let it pose as the relay.
func TestRunOptions_NetRaw(t *testing.T) {
	tests := []struct {
		args     string
		adds     bool
		spoofing []string
	}{
		{"app", false, nil},
		{"--cap-drop ALL --cap-add CHOWN app", false, nil},
		{"--cap-add NET_RAW app", true, []string{"--cap-add NET_RAW"}},
		{"--cap-add=cap_net_raw app", true, []string{"--cap-add cap_net_raw"}},
		{"--cap-add all app", true, []string{"--cap-add all"}},
		{"--privileged app", true, []string{"--privileged"}},
		{"--privileged=false app", false, nil},
		{"--cap-add NET_ADMIN app", false, []string{"--cap-add NET_ADMIN"}},
		{"app --cap-add NET_RAW", false, nil}, // the command's, not docker's
	}
	for _, tt := range tests {
		o, err := docker.ParseRunArgs(strings.Fields(tt.args))
		if err != nil {
			t.Fatal(err)
		}
		if o.AddsNetRaw() != tt.adds || !slices.Equal(o.Spoofing(), tt.spoofing) {
			t.Errorf("ParseRunArgs(%q): AddsNetRaw() = %v, Spoofing() = %q; want %v, %q", tt.args, o.AddsNetRaw(), o.Spoofing(), tt.adds, tt.spoofing)
		}
	}
}

// TestCompose reads the fragment as compose would, with token files whose
// paths YAML or the short volume syntax would misread. The service stays on
// its project's default network: with brokerd's alone, docker-compose 1.29
// ran it where the name of its project's db service did not resolve.
func TestCompose(t *testing.T) {
	for _, host := range []string{"/t", "/home/a b/c:d/token", "/s/#x/'q'\"\\/é\ttoken", "/h/$x/${y}/$$/token"} {
		fragment := docker.Client{Profile: "p", HostTokenFile: host, Region: "us-east-1"}.Compose("web")
		var got struct {
			Services map[string]struct {
				Networks    []string
				CapDrop     []string `yaml:"cap_drop"`
				Environment map[string]string
				Volumes     []map[string]any
			}
			Networks map[string]map[string]any
		}
		if err := yaml.Unmarshal([]byte(fragment), &got); err != nil {
			t.Fatalf("Compose(%q) is not YAML: %v\n%s", host, err, fragment)
		}
		web := got.Services["web"]
		for _, v := range web.Volumes {
			v["source"] = interpolate(t, v["source"].(string))
		}
		wantVolumes := []map[string]any{{"type": "bind", "source": host, "target": "/run/brokerd/token", "read_only": true}}
		if !slices.Equal(web.Networks, []string{"default", "brokerd"}) || !slices.Equal(web.CapDrop, []string{"NET_RAW"}) || web.Environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] != "/run/brokerd/token" ||
			web.Environment["AWS_REGION"] != "us-east-1" || !reflect.DeepEqual(web.Volumes, wantVolumes) || got.Networks["brokerd"]["external"] != true {
			t.Errorf("Compose(%q) reads as %+v, want the project's default network and brokerd's, NET_RAW dropped, the token file's variable, the region and a read-only bind of %q:\n%s", host, got, host, fragment)
		}
	}
}

// A profile name holds '$', which compose reads as a variable of its own
// unless doubled: docker-compose 1.29 asked the relay for team, not
// team$prod.
func TestCompose_Dollar(t *testing.T) {
	fragment := docker.Client{Profile: "team$prod", HostTokenFile: "/t"}.Compose("web")
	var got struct {
		Services map[string]struct{ Environment map[string]string }
	}
	if err := yaml.Unmarshal([]byte(fragment), &got); err != nil {
		t.Fatalf("Compose is not YAML: %v\n%s", err, fragment)
	}
	url := got.Services["web"].Environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
	if got, want := interpolate(t, url), docker.RelayURL("team$prod"); got != want {
		t.Errorf("Compose(team$prod) gives the URL %q, which compose reads as %q; want %q", url, got, want)
	}
}

// interpolate is s as compose reads it: $$ is '$', and a '$' otherwise
// starts a variable, which fails the test.
func interpolate(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) || s[i+1] != '$' {
			t.Errorf("compose reads a variable in %q", s)
			return s
		}
		b.WriteByte('$')
		i++
	}
	return b.String()
}

// fakeDocker answers docker commands from a table of prefixes, and records
// them.
type fakeDocker struct {
	answers map[string]string // "network inspect" -> output; "!..." an error
	calls   []string
}

func (f *fakeDocker) Docker(_ context.Context, args ...string) ([]byte, error) {
	call := strings.Join(args, " ")
	f.calls = append(f.calls, call)
	best := ""
	for k := range f.answers {
		if strings.HasPrefix(call, k) && len(k) > len(best) {
			best = k
		}
	}
	out, ok := f.answers[best]
	if !ok {
		return nil, nil
	}
	if msg, isErr := strings.CutPrefix(out, "!"); isErr {
		return nil, &docker.Error{Args: args, Message: msg}
	}
	return []byte(out), nil
}

var _ docker.Runner = (*fakeDocker)(nil)

func TestEnsureNetwork(t *testing.T) {
	tests := []struct {
		inspect string
		created bool
		err     string
	}{
		{"!Error: No such network: brokerd", true, ""},
		{"169.254.170.0/24 169.254.170.1;\n", false, ""},
		{"10.9.0.0/16 10.9.0.1;", false, "docker network rm brokerd"},
	}
	for _, tt := range tests {
		f := &fakeDocker{answers: map[string]string{"network inspect": tt.inspect}}
		created, err := docker.EnsureNetwork(context.Background(), f)
		if created != tt.created || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("inspect %q: EnsureNetwork = %v, %v; want %v and an error saying %q", tt.inspect, created, err, tt.created, tt.err)
		}
		made := slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "network create") })
		if made != tt.created {
			t.Errorf("inspect %q: calls %q", tt.inspect, f.calls)
		}
	}
	f := &fakeDocker{answers: map[string]string{"network inspect": "!No such network"}}
	docker.EnsureNetwork(context.Background(), f)
	if want := "network create --driver bridge --subnet 169.254.170.0/24 --gateway 169.254.170.1 --label io.brokerd=network brokerd"; f.calls[1] != want {
		t.Errorf("created with %q, want %q", f.calls[1], want)
	}
}

func TestEnsureRelay(t *testing.T) {
	rl := docker.Relay{Image: "brokerd-relay:abc", HostDir: "/run/user/1000/brokerd/relay", User: "1000:1000"}
	running := `brokerd-relay:abc|true|running|1000:1000|["--socket","/run/brokerd/relay.sock","--listen","169.254.170.2:80"]|/run/user/1000/brokerd/relay:/run/brokerd,|brokerd=169.254.170.2,`
	tests := []struct {
		name, inspect, did string
		run                bool
	}{
		{"none", "!Error: No such container: brokerd-relay", "created", true},
		{"running", running, "running", false},
		{"stopped", strings.Replace(running, "|true|running|", "|false|exited|", 1), "started", false},
		{"old image", strings.Replace(running, "relay:abc", "relay:old", 1), "replaced (it runs image brokerd-relay:old, not brokerd-relay:abc (brokerd's binary changed))", true},
		{"other state dir", strings.Replace(running, "/run/user/1000/brokerd/relay:", "/tmp/x:", 1), "replaced (it mounts [/tmp/x:/run/brokerd], not /run/user/1000/brokerd/relay (another state directory))", true},
	}
	for _, tt := range tests {
		f := &fakeDocker{answers: map[string]string{"container inspect": tt.inspect}}
		did, err := docker.EnsureRelay(context.Background(), f, rl)
		ran := slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "run ") })
		if err != nil || did != tt.did || ran != tt.run {
			t.Errorf("%s: EnsureRelay = %q, %v (calls %q); want %q, run %v", tt.name, did, err, f.calls, tt.did, tt.run)
		}
	}
	want := "run --detach --name brokerd-relay --restart unless-stopped --network brokerd --ip 169.254.170.2 --user 1000:1000 " +
		"--read-only --cap-drop ALL --security-opt no-new-privileges --sysctl net.ipv4.ip_unprivileged_port_start=0 --label io.brokerd=relay " +
		"--mount type=bind,source=/run/user/1000/brokerd/relay,target=/run/brokerd brokerd-relay:abc --socket /run/brokerd/relay.sock --listen 169.254.170.2:80"
	if got := strings.Join(rl.RunArgs(), " "); got != want {
		t.Errorf("RunArgs =\n%s\nwant\n%s", got, want)
	}
	desktop := docker.Relay{Image: "i", Upstream: "http://host.docker.internal:9911", User: "0:0"}
	if got := strings.Join(desktop.RunArgs(), " "); strings.Contains(got, "--mount") || !strings.HasSuffix(got, "i --upstream http://host.docker.internal:9911 --listen 169.254.170.2:80") {
		t.Errorf("Docker Desktop's RunArgs = %s", got)
	}
}

// Teardown removes nothing while other containers are on the network.
func TestTeardown(t *testing.T) {
	tests := []struct {
		name, inspect string
		says          string // "" when it removes the relay and network
	}{
		{"relay alone", "brokerd-relay \n", ""},
		{"no network", "!Error: No such network: brokerd", ""},
		{"containers", "web brokerd-relay worker \n", "docker stop web worker"},
		{"engine down", "!Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", "start Docker"},
	}
	for _, tt := range tests {
		f := &fakeDocker{answers: map[string]string{"network inspect": tt.inspect}}
		err := docker.Teardown(context.Background(), f)
		removed := slices.Contains(f.calls, "rm --force brokerd-relay")
		if (err == nil) != (tt.says == "") || err != nil && !strings.Contains(err.Error(), tt.says) || removed != (tt.says == "") {
			t.Errorf("%s: Teardown = %v (calls %q); want an error saying %q, and removals only without one", tt.name, err, f.calls, tt.says)
		}
	}
}

// A relay that cannot start because a container holds its address names it.
func TestStartRelay_AddressTaken(t *testing.T) {
	stopped := `brokerd-relay:abc|false|exited|0:0|[]||`
	inUse := "!Error response from daemon: Address already in use; Error: failed to start containers: brokerd-relay"
	for _, holders := range []string{"squat=169.254.170.2/24 web=169.254.170.3/24 ", "web=169.254.170.3/24 "} {
		f := &fakeDocker{answers: map[string]string{"container inspect": stopped, "start": inUse, "network inspect": holders}}
		_, err := docker.StartRelay(context.Background(), f, "")
		want := "Address already in use"
		if strings.HasPrefix(holders, "squat") {
			want = "container squat holds the relay's address 169.254.170.2 on network brokerd: remove it (docker rm --force squat)"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("StartRelay with %q on the network = %v, want an error saying %q", holders, err, want)
		}
	}
}

func TestCheckBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads this system's Linux executables")
	}
	exe, _ := os.Executable()
	if static(t, exe) {
		if err := docker.CheckBinary(exe, runtime.GOARCH); err != nil {
			t.Errorf("CheckBinary(static test binary) = %v", err)
		}
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	if err := docker.CheckBinary(exe, other); err == nil || !strings.Contains(err.Error(), "GOARCH="+other) {
		t.Errorf("CheckBinary(%s binary, %s) = %v, want an error with the build command", runtime.GOARCH, other, err)
	}
	for _, dyn := range []string{"/bin/sh", "/usr/bin/env"} {
		if _, err := os.Stat(dyn); err != nil || static(t, dyn) {
			continue
		}
		if err := docker.CheckBinary(dyn, runtime.GOARCH); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("CheckBinary(%s) = %v, want an error saying to build with CGO_ENABLED=0", dyn, err)
		}
		break
	}
	f, _ := os.CreateTemp(t.TempDir(), "script")
	fmt.Fprintln(f, "#!/bin/sh")
	f.Close()
	if err := docker.CheckBinary(f.Name(), runtime.GOARCH); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("CheckBinary(script) = %v", err)
	}
	missing := f.Name() + ".missing"
	if err := docker.CheckBinary(missing, runtime.GOARCH); err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "--binary brokerd-linux") || strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("CheckBinary(%s) = %v, want it to say there is no such file and how to build one", missing, err)
	}
}

func static(t *testing.T, path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// fakeCLI puts on PATH a docker command that prints stderr and fails.
func fakeCLI(t *testing.T, stderr string) {
	t.Helper()
	dir := t.TempDir()
	msg := filepath.Join(dir, "stderr")
	if err := os.WriteFile(msg, []byte(stderr), 0o600); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n/bin/cat " + msg + " >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

// A docker that cannot reach its engine says what to do in one line, and
// is never taken for an answer that the relay or network is gone.
func TestCLI_Errors(t *testing.T) {
	tests := []struct {
		name, stderr string
		says         string // "" when Teardown succeeds
	}{
		{"stopped", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
			"no Docker engine answers at unix:///var/run/docker.sock: start Docker"},
		{"permission", `permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.50/version": dial unix /var/run/docker.sock: connect: permission denied` + "\n",
			"no permission to use the Docker engine at unix:///var/run/docker.sock: add your user to the docker group"},
		{"context", `Failed to initialize: unable to resolve docker endpoint: context "nope": context not found: open /home/a/.docker/contexts/meta/x/meta.json: no such file or directory` + "\n",
			"fix DOCKER_CONTEXT"},
		{"certificate", `could not read CA certificate "/x/ca.pem": open /x/ca.pem: no such file or directory` + "\n",
			"could not read CA certificate"},
		{"in use", "Error response from daemon: error while removing network: network brokerd id f98f has active endpoints\nexit status 1\n",
			"has active endpoints"},
		{"gone", "Error: No such container: brokerd-relay\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeCLI(t, tt.stderr)
			err := docker.Teardown(context.Background(), docker.CLI{})
			if tt.says == "" {
				if err != nil {
					t.Errorf("Teardown = %v, want nil: what it removes is gone", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.says) || strings.ContainsAny(err.Error(), "\r\n") || strings.Contains(err.Error(), "exit status") {
				t.Errorf("Teardown = %v, want one line saying %q", err, tt.says)
			}
			_, err = docker.Inspect(context.Background(), docker.CLI{})
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Inspect = %v, want it to say %q", err, tt.says)
			}
		})
	}
}

// inspectLine is a line of docker inspect with LostTokens' format.
func inspectLine(id, name, image, policy string, retries int, user, label, urlVar, source string) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	env, mount := "", ""
	if urlVar != "" {
		env = q(urlVar)
	}
	if source != "" {
		mount = q(source)
	}
	return strings.Join([]string{q(id), q("/" + name), q(image), q(policy), strconv.Itoa(retries), "false", q(user),
		`["NET_RAW"]`, "null", q(label), env, mount}, "\t")
}

// A container with a restart policy whose token file is gone (a reboot
// emptied the state directory) cannot start again: LostTokens finds it,
// with its profile, policy and the scope its label records, and leaves
// alone those without a policy, those whose file is there, and those
// removed since docker ps. A container with its token in its environment
// is lost when the daemon does not hold the token its label names.
func TestLostTokens(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "kept")
	os.WriteFile(kept, []byte("bdc_x"), 0o600)
	gone := filepath.Join(dir, "c1", "to|ken")
	id := func(n int) string { return strings.Repeat(strconv.Itoa(n), 64) }
	url := "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + docker.RelayURL("team$prod|x")
	scope := docker.Scope{ID: "c0123abcd", Label: "web", Profiles: []string{"team$prod|x", "dev"}, TTLSeconds: 3600}
	f := &fakeDocker{answers: map[string]string{
		"ps --all --quiet --no-trunc --filter volume": id(1) + "\n" + id(2) + "\n" + id(3) + "\n" + id(4) + "\n",
		"ps --all --quiet --no-trunc --filter label":  id(1) + "\n" + id(5) + "\n" + id(6) + "\n",
		"container inspect": strings.Join([]string{
			inspectLine(id(1), "web", "sha256:aa", "always", 0, "", scope.String(), url, gone),
			inspectLine(id(2), "once", "sha256:aa", "no", 0, "", "", url, gone),
			inspectLine(id(3), "fine", "sha256:aa", "always", 0, "", "", url, kept),
			inspectLine(id(4), "retry", "sha256:aa", "on-failure", 3, "1000", "", "", gone),
			inspectLine(id(6), "held", "sha256:aa", "always", 0, "", docker.Scope{ID: "c99999999", Label: "h", Profiles: []string{"team$prod|x"}}.String(), url, ""),
			// Last, and its last field empty: the line ends with a tab.
			inspectLine(id(5), "envy", "sha256:aa", "unless-stopped", 0, "", scope.String(), url, ""),
		}, "\n") + "\n",
		// An image without labels: {{with}} prints nothing.
		"image inspect": `"sha256:aa"	` + "\n",
	}}
	held := func(id string) bool { return id == "c99999999" }
	lost, err := docker.LostTokens(context.Background(), f, held)
	if err != nil || len(lost) != 3 {
		t.Fatalf("LostTokens = %+v, %v; want web, retry and envy", lost, err)
	}
	web, retry, envy := lost[0], lost[1], lost[2]
	if web.Name != "web" || web.ID != id(1) || web.Restart != "always" || web.Profile != "team$prod|x" || web.TokenFile != gone || !web.Gone ||
		web.Scope == nil || !reflect.DeepEqual(*web.Scope, scope) || !reflect.DeepEqual(web.Profiles(), scope.Profiles) || !reflect.DeepEqual(web.CapDrop, []string{"NET_RAW"}) {
		t.Errorf("web = %+v (scope %+v)", web, web.Scope)
	}
	if retry.Name != "retry" || retry.Restart != "on-failure:3" || retry.Profile != "" || retry.Profiles() != nil || retry.User != "1000" || !retry.Gone {
		t.Errorf("retry = %+v", retry)
	}
	if envy.Name != "envy" || !envy.TokenEnv || envy.Gone || envy.TokenFile != "" || envy.Scope == nil {
		t.Errorf("envy = %+v", envy)
	}
	for _, want := range []string{"ps --all --quiet --no-trunc --filter volume=/run/brokerd/token", "ps --all --quiet --no-trunc --filter label=io.brokerd.reissue",
		"image inspect --format"} {
		if !slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, want) }) {
			t.Errorf("docker calls %q, want %q", f.calls, want)
		}
	}
	if got, want := web.Fix(), "brokerd docker reissue web gives it a new token in place (or make it again: docker rm -f web, then brokerd docker run 'team$prod|x' --also dev --label web --ttl 1h0m0s -- --restart always --name web [your other options] IMAGE)"; got != want {
		t.Errorf("Fix() = %q\nwant %q", got, want)
	}
	if got := retry.Fix(); !strings.Contains(got, "brokerd docker reissue retry gives") || !strings.Contains(got, "brokerd docker run PROFILE -- --restart on-failure:3 --name retry") {
		t.Errorf("Fix() without a profile = %q, want reissue, then PROFILE", got)
	}
	if got, want := envy.Fix(), "make it again (a token in its environment cannot be changed in place): docker rm -f envy, then brokerd docker run 'team$prod|x' --also dev --label web --ttl 1h0m0s --token-env -- --restart unless-stopped --name envy [your other options] IMAGE"; got != want {
		t.Errorf("Fix() of --token-env = %q\nwant %q", got, want)
	}
	if got := web.Problem(); !strings.Contains(got, "container web (--restart always) cannot start again: its token file "+gone+" is gone (a reboot") {
		t.Errorf("Problem() = %q", got)
	}
	if got := envy.Problem(); !strings.Contains(got, "container envy (--restart unless-stopped) holds in its environment a token that brokerd no longer knows") {
		t.Errorf("Problem() of --token-env = %q", got)
	}

	// Without the daemon's word, containers with a token in their
	// environment are left out.
	f.calls = nil
	if lost, _ := docker.LostTokens(context.Background(), f, nil); len(lost) != 2 {
		t.Errorf("LostTokens without held = %+v, want web and retry", lost)
	}

	none, err := docker.LostTokens(context.Background(), &fakeDocker{answers: map[string]string{"ps --all": ""}}, held)
	if err != nil || none != nil {
		t.Errorf("LostTokens without such containers = %v, %v; want none", none, err)
	}
}

// The scope label is taken only when brokerd can tell it recorded it: it
// names the URL's profile first, and the image does not set it (a
// container's labels include its image's, so an image could name profiles
// brokerd never gave the container).
func TestLostTokens_ScopeTrust(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	url := "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + docker.RelayURL("dev")
	mine := docker.Scope{ID: "c0123abcd", Label: "web", Profiles: []string{"dev", "prod"}}.String()
	other := docker.Scope{ID: "c0123abcd", Label: "web", Profiles: []string{"admin", "prod"}}.String()
	tests := []struct {
		name, label, imageLabel, why string
	}{
		{"brokerd's", mine, "", ""},
		{"the image's too", mine, mine, "its image sets label io.brokerd.reissue too"},
		{"another first profile", other, "", "names profile admin first"},
		{"not a scope", "profiles=admin", "", "want id, label and profiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(tt.imageLabel)
			f := &fakeDocker{answers: map[string]string{
				"ps --all":          strings.Repeat("a", 64) + "\n",
				"container inspect": inspectLine(strings.Repeat("a", 64), "web", "sha256:bb", "always", 0, "", tt.label, url, gone) + "\n",
				"image inspect":     `"sha256:bb"	` + string(b) + "\n",
			}}
			lost, err := docker.LostTokens(context.Background(), f, nil)
			if err != nil || len(lost) != 1 {
				t.Fatalf("LostTokens = %+v, %v", lost, err)
			}
			c := lost[0]
			if tt.why == "" {
				if c.Scope == nil || c.Untrusted != "" || strings.Join(c.Profiles(), ",") != "dev,prod" {
					t.Errorf("scope %+v (%q), profiles %q; want the label's dev,prod", c.Scope, c.Untrusted, c.Profiles())
				}
				return
			}
			if c.Scope != nil || !strings.Contains(c.Untrusted, tt.why) || strings.Join(c.Profiles(), ",") != "dev" {
				t.Errorf("scope %+v, untrusted %q, profiles %q; want the URL's dev alone, because %q", c.Scope, c.Untrusted, c.Profiles(), tt.why)
			}
		})
	}
}

// A scope label survives docker run $(brokerd docker token P): unquoted by
// wire.ShellQuote for plain names, and read back whole for any.
func TestScope_RoundTrip(t *testing.T) {
	for _, s := range []docker.Scope{
		{ID: "c0123abcd", Label: "web", Profiles: []string{"prod"}},
		{ID: "c0123abcd", Label: "my.app_1", Profiles: []string{"prod", "dev-2", "a.b_c"}, TTLSeconds: 604800},
		{ID: "c0123abcd", Label: "web", Profiles: []string{"team$prod|x", "a+b,c=d%", "é"}},
	} {
		v := s.String()
		got, err := docker.ParseScope(v)
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("ParseScope(%q) = %+v, %v; want %+v", v, got, err, s)
		}
	}
	plain := docker.Scope{ID: "c0123abcd", Label: "my.app_1", Profiles: []string{"prod", "dev-2"}, TTLSeconds: 60}
	if arg := docker.ScopeLabel + "=" + plain.String(); wire.ShellQuote(arg) != arg {
		t.Errorf("the label option %q is quoted for the shell: docker run $(brokerd docker token) would take the quotes", arg)
	}
	c := docker.Client{Profile: "prod", HostTokenFile: "/t", Scope: &plain}
	if args := strings.Join(c.Args(), " "); !strings.HasSuffix(args, " --label io.brokerd.reissue=id=c0123abcd,label=my.app_1,profiles=prod+dev-2,ttl=60") {
		t.Errorf("Args() = %q, want the scope label last", args)
	}
	var svc struct {
		Services map[string]struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(c.Compose("web")), &svc); err != nil || svc.Services["web"].Labels[docker.ScopeLabel] != plain.String() {
		t.Errorf("Compose labels %+v, %v; want %s=%s", svc.Services["web"].Labels, err, docker.ScopeLabel, plain.String())
	}
	for _, bad := range []string{"", "id=c1", "id=c1,label=w", "id=c1,label=w,profiles=", "id=c1,label=w,profiles=p,ttl=x", "id=c1,label=w,profiles=%zz"} {
		if _, err := docker.ParseScope(bad); err == nil {
			t.Errorf("ParseScope(%q) = nil error", bad)
		}
	}
}
