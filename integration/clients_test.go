//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// roleConfig is the README's config: long-term keys for dev, role prod.
const roleConfig = `
[profile {dev}]
region = us-east-1

[profile {prod}]
role_arn = arn:aws:iam::999999999999:role/UpdateApp
source_profile = {dev}
`

const assumedUpdateApp = "arn:aws:sts::999999999999:assumed-role/UpdateApp/"

// TestReadmeJourney follows the README with the aws CLI: keys add, serve,
// eval "$(brokerd env …)", aws sts get-caller-identity answers as the role,
// for a named profile and for the daemon's default profile.
func TestReadmeJourney(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	keys := randomKeys(t)
	e.addKeys(t, dev, keys)
	if list := e.mustRun(t, "", "keys", "list"); !strings.Contains(list, dev+"\t"+keys.masked()+"\n") {
		t.Errorf("brokerd keys list = %q, want a line %q", list, dev+"\t"+keys.masked())
	}
	d := e.startDaemon(t, "--default-profile", prod)

	t.Run("named profile", func(t *testing.T) {
		vars := parseExports(t, e.mustRun(t, "", "env", prod))
		if got, want := vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"], d.URL+"/v1/credentials/"+prod; got != want {
			t.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI = %q, want %q", got, want)
		}
		if got := vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]; got != e.StateDir+"/token" {
			t.Errorf("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = %q, want %q", got, e.StateDir+"/token")
		}
		if arn := e.callerARN(t, vars); !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("aws sts get-caller-identity: Arn = %q, want %s…", arn, assumedUpdateApp)
		}
	})
	t.Run("eval in a shell", func(t *testing.T) {
		// The README's words, literally, with brokerd found on PATH.
		out := e.mustExec(t, nil, "", "sh", "-c", `eval "$(brokerd env "$1")" && aws sts get-caller-identity --output text --query Arn`, "sh", prod)
		if arn := strings.TrimSpace(out); !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("sh -c 'eval \"$(brokerd env %s)\"; aws sts get-caller-identity': Arn = %q, want %s…", prod, arn, assumedUpdateApp)
		}
	})
	t.Run("default profile", func(t *testing.T) {
		if got, want := d.Env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], d.URL+"/v1/credentials"; got != want {
			t.Errorf("brokerd env: AWS_CONTAINER_CREDENTIALS_FULL_URI = %q, want %q", got, want)
		}
		if arn := e.callerARN(t, d.Env); !strings.HasPrefix(arn, assumedUpdateApp) {
			t.Errorf("aws sts get-caller-identity: Arn = %q, want %s…", arn, assumedUpdateApp)
		}
	})
}

// TestGoSDKClient checks that the Go SDK v2's default chain reads the
// endpoint from the environment, and shows brokerd's error message.
// Not parallel: the SDK reads this process's environment (t.Setenv).
func TestGoSDKClient(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)
	ctx := context.Background()

	e.setProcessEnv(t, parseExports(t, e.mustRun(t, "", "env", prod)))
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if creds.Source != endpointcreds.ProviderName {
		t.Errorf("credentials came from %q, want %q", creds.Source, endpointcreds.ProviderName)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if arn := *out.Arn; !strings.HasPrefix(arn, assumedUpdateApp) {
		t.Errorf("GetCallerIdentity: Arn = %q, want %s…", arn, assumedUpdateApp)
	}

	// An error reaches the SDK's user with brokerd's message.
	missing := e.profile("missing")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", d.URL+"/v1/credentials/"+missing)
	cfg, err = config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(ctx)
	if want := "`brokerd keys add " + missing + "`"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Retrieve for an unknown profile: %v, want an error saying %q", err, want)
	}
}

// setProcessEnv makes this process's AWS_ variables those of e plus vars,
// for clients that read os.Environ; t.Setenv restores them. It cannot be
// used in parallel tests.
func (e *Env) setProcessEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range e.environ(vars) {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
		}
	}
}

// TestBoto3Client checks that boto3's default chain reads the endpoint from
// the environment and calls STS as the role.
func TestBoto3Client(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	e.startDaemon(t)

	const script = `
import json, boto3
session = boto3.Session()
creds = session.get_credentials()
arn = session.client("sts").get_caller_identity()["Arn"]
print(json.dumps({"method": creds.method, "arn": arn}))
`
	out := e.mustExec(t, parseExports(t, e.mustRun(t, "", "env", prod)), "", "python3", "-c", script)
	var got struct{ Method, Arn string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("python3 printed %q: %v", out, err)
	}
	if got.Method != "container-role" {
		t.Errorf("boto3 credentials method = %q, want container-role", got.Method)
	}
	if !strings.HasPrefix(got.Arn, assumedUpdateApp) {
		t.Errorf("boto3 get_caller_identity: Arn = %q, want %s…", got.Arn, assumedUpdateApp)
	}
}

// TestJSSDKClient checks that the AWS SDK for JavaScript v3's default chain
// (a Node.js program's STSClient with no options) reads the endpoint and
// the region from the environment and calls STS as the role, and that an
// error reaches its user with brokerd's message.
func TestJSSDKClient(t *testing.T) {
	t.Parallel()
	script := jsSDK(t)
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t)

	var got struct {
		Source      map[string]string
		Arn, Region string
		Error       string
	}
	call := func(vars map[string]string) {
		t.Helper()
		got.Source, got.Arn, got.Region, got.Error = nil, "", "", ""
		out := e.mustExec(t, vars, "", "node", script)
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("node %s printed %q: %v", script, out, err)
		}
	}
	vars := parseExports(t, e.mustRun(t, "", "env", prod))
	call(vars)
	if got.Error != "" || !strings.HasPrefix(got.Arn, assumedUpdateApp) {
		t.Errorf("JS SDK GetCallerIdentity: Arn %q, error %q; want %s…", got.Arn, got.Error, assumedUpdateApp)
	}
	// The SDK marks where the chain found credentials: CREDENTIALS_HTTP is
	// the container provider.
	if _, ok := got.Source["CREDENTIALS_HTTP"]; !ok {
		t.Errorf("JS SDK credentials came from %v, want CREDENTIALS_HTTP", got.Source)
	}
	if got.Region != "us-east-1" {
		t.Errorf("JS SDK region = %q, want us-east-1 (from brokerd env)", got.Region)
	}

	missing := e.profile("missing")
	vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = d.URL + "/v1/credentials/" + missing
	call(vars)
	// The JS SDK's chain drops the endpoint's answer ("Could not load
	// credentials from any providers"): the README sends its users to
	// brokerd audit, which names the refusal and the program.
	if got.Error == "" {
		t.Fatalf("JS SDK for an unknown profile: no error, Arn %q", got.Arn)
	}
	audit := e.mustRun(t, "", "audit")
	if !slices.ContainsFunc(strings.Split(audit, "\n"), func(line string) bool {
		return strings.Contains(line, missing) && strings.Contains(line, "ProfileNotFound") && strings.Contains(line, "node")
	}) {
		t.Errorf("brokerd audit has no line naming %s, ProfileNotFound and node:\n%s", missing, audit)
	}

	// With the daemon stopped (no token file) the JS SDK names the file,
	// as the README's troubleshooting says.
	vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = e.Dir + "/stopped/token"
	call(vars)
	if want := "ENOENT"; !strings.Contains(got.Error, want) || !strings.Contains(got.Error, "/stopped/token") {
		t.Errorf("JS SDK without the token file: error %q, want %s naming the file", got.Error, want)
	}
}

// jsSDK returns the path of testdata/js/caller.mjs, with the AWS SDK for
// JavaScript v3 that package-lock.json pins installed beside it (npm ci,
// once; scripts/check installs Node.js and npm where they are missing).
func jsSDK(t *testing.T) string {
	t.Helper()
	jsOnce.Do(func() {
		dir, err := filepath.Abs("testdata/js")
		if err != nil {
			jsErr = err
			return
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-sts")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			jsErr = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	if jsErr != nil {
		t.Fatalf("the JS SDK is not installed (Node.js and npm are needed: apt-get install nodejs npm): %v", jsErr)
	}
	script, _ := filepath.Abs("testdata/js/caller.mjs")
	return script
}

var (
	jsOnce sync.Once
	jsErr  error
)
