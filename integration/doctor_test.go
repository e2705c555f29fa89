//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// doctorReport is `brokerd doctor --json`.
type doctorReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name    string `json:"name"`
		Level   string `json:"level"`
		Message string `json:"message"`
		Fix     string `json:"fix"`
	} `json:"checks"`
}

// doctor runs `brokerd doctor --json` with extra variables, checks that its
// output parses and that it exits non-zero exactly when a check failed.
func (e *Env) doctor(t *testing.T, extra map[string]string) doctorReport {
	t.Helper()
	r := e.exec(t, extra, "", brokerdBin, "doctor", "--json")
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("brokerd doctor --json printed %q: %v", r.stdout, err)
	}
	failed := false
	for _, c := range rep.Checks {
		failed = failed || c.Level == "fail"
		if c.Level != "ok" && c.Level != "warn" && c.Level != "fail" {
			t.Errorf("check %s has level %q, want ok, warn or fail", c.Name, c.Level)
		}
	}
	if failed == rep.OK || (r.code != 0) != failed {
		t.Errorf("brokerd doctor --json: exit %d, ok %v, a check failed: %v; want non-zero exactly when a check fails\n%s", r.code, rep.OK, failed, r.stdout)
	}
	return rep
}

// has reports whether rep has a check of level whose name is name and
// whose message and fix contain phrase.
func (rep doctorReport) has(name, level, phrase string) bool {
	for _, c := range rep.Checks {
		if c.Name == name && c.Level == level && strings.Contains(c.Message+" fix: "+c.Fix, phrase) {
			return true
		}
	}
	return false
}

// TestDoctorJSON runs doctor in a healthy shell, then breaks one thing at a
// time as a user would: the JSON parses every time, and the exit status is
// non-zero exactly when something is wrong.
func TestDoctorJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)
	shell := parseExports(t, e.mustRun(t, "", "env", prod))

	if rep := e.doctor(t, shell); !rep.OK {
		t.Fatalf("brokerd doctor in a healthy shell: %+v, want ok", rep)
	}
	credentials := filepath.Join(e.Dir, "credentials")
	for _, tc := range []struct {
		name         string
		config       string // appended to roleConfig
		creds        string
		extra        map[string]string
		check, level string
		phrase       string
	}{
		{name: "header without ]", config: "\n[profile {dev}-eu\nregion = eu-west-1\n", check: "syntax", level: "fail", phrase: "has no closing ]"},
		{name: "source_profile typo", config: "\n[profile {prod}2]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = {dve}\n",
			check: "profile {prod}2", level: "fail", phrase: "did you mean {dev}?"},
		{name: "unknown setting", config: "\n[profile {dev}-x]\nteam = payments\n", check: "profile {dev}-x", level: "warn", phrase: "sets team"},
		{name: "AWS_DEFAULT_PROFILE with static keys", creds: "[old]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
			extra: map[string]string{"AWS_DEFAULT_PROFILE": "old"}, check: "AWS_DEFAULT_PROFILE", level: "fail", phrase: "brokerd keys import old"},
		{name: "no region for the aws CLI v1", extra: map[string]string{"AWS_DEFAULT_REGION": ""}, check: "region", level: "fail", phrase: "no region for aws CLI v1 and boto3"},
		{name: "STS unreachable", extra: map[string]string{"AWS_ENDPOINT_URL_STS": "http://" + closedAddr(t)}, check: "STS", level: "fail", phrase: "STS cannot be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.writeConfig(t, roleConfig+tc.config)
			if err := os.WriteFile(credentials, []byte(tc.creds), 0o600); err != nil {
				t.Fatal(err)
			}
			extra := map[string]string{}
			for k, v := range shell {
				extra[k] = v
			}
			for k, v := range tc.extra {
				extra[k] = v
			}
			rep := e.doctor(t, extra)
			check := placeholder.ReplaceAllStringFunc(tc.check, func(m string) string { return e.profile(m[1 : len(m)-1]) })
			phrase := placeholder.ReplaceAllStringFunc(tc.phrase, func(m string) string { return e.profile(m[1 : len(m)-1]) })
			if !rep.has(check, tc.level, phrase) {
				t.Errorf("brokerd doctor --json: no %s check %s saying %q in %+v", tc.level, check, phrase, rep.Checks)
			}
		})
	}
	e.writeConfig(t, roleConfig)
	os.WriteFile(credentials, nil, 0o600)

	t.Run("the aws CLI does use AWS_DEFAULT_PROFILE's keys", func(t *testing.T) {
		// What doctor warns of is real: the aws CLI takes the static keys.
		os.WriteFile(credentials, []byte("[old]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"), 0o600)
		defer os.WriteFile(credentials, nil, 0o600)
		extra := map[string]string{"AWS_DEFAULT_PROFILE": "old"}
		for k, v := range shell {
			extra[k] = v
		}
		if arn := e.callerARN(t, extra); strings.Contains(arn, "assumed-role") {
			t.Errorf("aws sts get-caller-identity with AWS_DEFAULT_PROFILE=old: %s, want the static keys' user, not brokerd's role", arn)
		}
	})
	t.Run("daemon stopped", func(t *testing.T) {
		d.stop(t)
		rep := e.doctor(t, shell)
		if !rep.has("daemon", "fail", "[Errno 2] No such file or directory: '"+filepath.Join(e.StateDir, "token")+"'") {
			t.Errorf("brokerd doctor with the daemon stopped: %+v, want it to say what SDKs print", rep.Checks)
		}
	})
}

// TestDoctorValuesAsTheAWSCLIReadsThem checks the findings on values that
// botocore reads otherwise than the Go SDK and brokerd against botocore
// itself: what doctor says the aws CLI and boto3 read, they read.
func TestDoctorValuesAsTheAWSCLIReadsThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The profile's settings as boto3 (and so the aws CLI) reads them, or
	// the error it stops with when it makes a client.
	const boto = `import sys, boto3
s = boto3.Session(profile_name=sys.argv[1])
try:
    s.client("sts", region_name="us-east-1")
    print(repr(s._session.get_scoped_config().get("region")))
except Exception as e:
    print(type(e).__name__)`
	for _, tc := range []struct {
		name, config, profile string
		botocore              string // what boto3 prints
		check, level, phrase  string
	}{
		{name: "comment after a value", config: "[profile {a}]\nregion = eu-west-1 # Ireland\n", profile: "{a}",
			botocore: "'eu-west-1 # Ireland'", check: "syntax", level: "warn", phrase: "the value of region is followed by a comment"},
		{name: "quoted value", config: "[profile {a}]\nregion = \"eu-west-1\"\n", profile: "{a}",
			botocore: `'"eu-west-1"'`, check: "syntax", level: "warn", phrase: "the value of region is in quotes"},
		{name: "[default] after [profile default]", config: "[profile default]\nregion = eu-west-1\n[default]\nregion = us-east-2\n", profile: "default",
			botocore: "'us-east-2'", check: "profile default", level: "fail", phrase: "the aws CLI and boto3 read [default], which comes last"},
		{name: "services naming no section", config: "[profile {a}]\nregion = eu-west-1\nservices = {a}-local\n", profile: "{a}",
			botocore: "InvalidConfigError", check: "profile {a}", level: "fail", phrase: "names no [services {a}-local] section"},
		{name: "a service's value on its own line", config: "[profile {a}]\nregion = eu-west-1\nservices = local\n[services local]\nsts = http://127.0.0.1:1\n", profile: "{a}",
			botocore: "AttributeError", check: "services", level: "fail", phrase: "gives sts a value on its own line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.writeConfig(t, tc.config)
			profile := placeholder.ReplaceAllStringFunc(tc.profile, func(m string) string { return e.profile(m[1 : len(m)-1]) })
			// Without the harness's AWS_ENDPOINT_URL_STS, which botocore
			// takes before any services section.
			if r := e.exec(t, map[string]string{"AWS_ENDPOINT_URL_STS": ""}, "", "python3", "-c", boto, profile); strings.TrimSpace(r.stdout) != tc.botocore {
				t.Errorf("boto3 reads profile %s of %q as %q (%s), want %q", profile, tc.config, r.stdout, r.stderr, tc.botocore)
			}
			rep := e.doctor(t, nil)
			check := placeholder.ReplaceAllStringFunc(tc.check, func(m string) string { return e.profile(m[1 : len(m)-1]) })
			phrase := placeholder.ReplaceAllStringFunc(tc.phrase, func(m string) string { return e.profile(m[1 : len(m)-1]) })
			if !rep.has(check, tc.level, phrase) {
				t.Errorf("brokerd doctor --json: no %s check %s saying %q in %+v", tc.level, check, phrase, rep.Checks)
			}
		})
	}
}

// TestDoctorServicesSectionEndpoint checks that brokerd sends a role's STS
// calls where the SDKs would, the sts endpoint_url of the [services NAME]
// section the profile names rather than its endpoint_url (here a closed
// port), and that doctor finds nothing wrong with such a file.
func TestDoctorServicesSectionEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setenv("AWS_ENDPOINT_URL_STS", "") // the environment would come first
	closed := "http://" + closedAddr(t)
	e.writeConfig(t, "[profile {dev}]\nregion = us-east-1\nendpoint_url = "+closed+"\nservices = {dev}-local\n\n"+
		"[services {dev}-local]\nsts =\n  endpoint_url = "+openSTS.URL+"\n\n"+
		"[profile {prod}]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = {dev}\nendpoint_url = "+closed+"\nservices = {dev}-local\n")
	dev, prod := e.profile("dev"), e.profile("prod")
	e.addKeys(t, dev, randomKeys(t))
	d := e.startDaemon(t, "--default-profile", prod)
	if c := d.credentials(t, prod); !strings.HasPrefix(c.RoleArn, "arn:aws:iam::999999999999:role/UpdateApp") && c.RoleArn != "" {
		t.Errorf("credentials of %s are for %q, want the role", prod, c.RoleArn)
	}
	shell := parseExports(t, e.mustRun(t, "", "env", prod))
	rep := e.doctor(t, shell)
	for _, c := range rep.Checks {
		if c.Level != "ok" && (c.Name == "services" || strings.Contains(c.Message, "services")) {
			t.Errorf("brokerd doctor: %+v, want nothing wrong with the services section", c)
		}
	}
}
