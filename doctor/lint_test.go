package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerd/brokerd/keychain"
	"github.com/brokerd/brokerd/state"
)

func TestBotocoreProblems(t *testing.T) {
	tests := []struct {
		name, text string
		lines      []int // of the problems
		why        string
	}{
		{"fine", "# c\n[default]\nregion = eu-west-1 # not a comment to botocore\n\n[profile a] ; c\nregion: x\ns3 =\n  max_concurrent_requests = 10\n\n    # indented comment\n", nil, ""},
		{"header without ]", "[profile dev]\nregion = x\n[profile prod\nrole_arn = y\n", []int{3}, "has no closing ]"},
		{"section twice", "[profile a]\nregion = x\n[profile a]\nregion = y\n", []int{3}, "appears a second time (first on line 1)"},
		{"key twice", "[profile a]\nregion = x\nREGION = y\n", []int{3}, "region is set a second time in [profile a]"},
		{"before any section", "region = x\n[profile a]\n", []int{1}, "before any [section]"},
		{"a bare word", "[profile a]\nregion = x\noops\n", []int{3}, "neither a setting"},
		{"no name", "[profile a]\n= x\n", []int{2}, "no setting name"},
		{"CRLF", "[profile a]\r\nregion = x\r\n[profile b\r\n", []int{3}, "has no closing ]"},
		// Python reads UTF-8, not UTF-8-sig: the mark is a character
		// before the [; after it, the lines read as they stand.
		{"byte order mark", "\ufeff[profile a]\nregion = x\n", []int{1}, "byte order mark"},
		{"byte order mark and a problem", "\ufeff[profile a]\nregion = x\nregion = y\n", []int{1, 3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := botocoreProblems([]byte(tt.text))
			var lines []int
			for _, p := range got {
				lines = append(lines, p.line)
				if !strings.Contains(p.why, tt.why) {
					t.Errorf("botocoreProblems(%q) line %d: %q, want it to say %q", tt.text, p.line, p.why, tt.why)
				}
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.lines) {
				t.Errorf("botocoreProblems(%q) on lines %v, want %v", tt.text, lines, tt.lines)
			}
		})
	}
}

// wantCheck finds the check named name whose message contains phrase and
// checks its level and that its fix contains fix.
func wantCheck(t *testing.T, checks []Check, name, phrase string, level Level, fix string) {
	t.Helper()
	for _, c := range checks {
		if c.Name == name && strings.Contains(c.Message, phrase) {
			if c.Level != level || !strings.Contains(c.Fix, fix) {
				t.Errorf("check %s = %+v, want %v with a fix containing %q", name, c, level, fix)
			}
			return
		}
	}
	t.Errorf("no check %s saying %q in:\n%s", name, phrase, printed(checks))
}

func printed(checks []Check) string {
	var b strings.Builder
	Print(&b, checks)
	return b.String()
}

func TestRun_ConfigLint(t *testing.T) {
	const base = "[profile dev]\nregion = eu-west-1\n\n"
	tests := []struct {
		name, config, creds string
		check, phrase, fix  string
		level               Level
	}{
		{name: "header without ]", config: base + "[profile prod\nrole_arn = arn:aws:iam::1:role/x\n",
			check: "syntax", phrase: "line 4: the line starts a section header with [ but has no closing ], so the aws CLI and boto3 refuse the whole file", fix: "add the ] on line 4", level: Fail},
		{name: "byte order mark", config: "\ufeff" + base,
			check: "syntax", phrase: "line 1: the file starts with an invisible byte order mark", fix: "without a BOM", level: Fail},
		{name: "source_profile typo", config: base + "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dve\n",
			check: "profile prod", phrase: "source_profile = dve in [profile prod] names no profile", fix: "set source_profile = dev in [profile prod]", level: Fail},
		{name: "source keys in the credentials file", config: "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = ops\n",
			creds: "[ops]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n",
			check: "profile prod", phrase: "the keys of ops are in", fix: "brokerd keys import ops", level: Fail},
		{name: "source without keys", config: base + "[profile ops]\nregion = eu-west-1\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = ops\n",
			check: "profile ops", phrase: "the keychain has no keys for ops, whose keys sign for prod", fix: "brokerd keys add ops", level: Fail},
		{name: "mfa_serial a profile", config: base + "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\nmfa_serial = dev\n",
			check: "profile prod", phrase: "mfa_serial = dev in [profile prod] names a profile, not an MFA device", fix: "arn:aws:iam::ACCOUNT:mfa/NAME", level: Fail},
		{name: "mfa_serial not an ARN", config: "[profile dev]\nmfa_serial = alice\n",
			check: "profile dev", phrase: "is not an MFA device's ARN", fix: "set mfa_serial", level: Fail},
		{name: "unknown key near a known one", config: "[profile dev]\nregoin = eu-west-1\n",
			check: "profile dev", phrase: "sets regoin, which no SDK reads: did you mean region?", fix: "rename regoin to region", level: Fail},
		{name: "mfa_serial misspelt", config: "[profile dev]\nmfa_serail = arn:aws:iam::111111111111:mfa/alice\n",
			check: "profile dev", phrase: "did you mean mfa_serial?", fix: "rename mfa_serail to mfa_serial", level: Fail},
		{name: "unknown key", config: "[profile dev]\nregion = eu-west-1\nteam = payments\n",
			check: "profile dev", phrase: "sets team, which neither brokerd nor the AWS SDKs it knows read", fix: "check the spelling", level: Warn},
		{name: "loop", config: "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n",
			check: "profile a", phrase: "source_profile loops: a → b → a", fix: "end the chain", level: Fail},
		{name: "role without source", config: "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\n",
			check: "profile prod", phrase: "has role_arn but no source_profile", fix: "add source_profile", level: Fail},
		{name: "role from its own credential_process", config: "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\ncredential_process = get-creds\n",
			check: "profile prod", phrase: "the Go SDK assumes the role with the profile's own credential_process, but the aws CLI, boto3 and brokerd cannot", fix: "add source_profile", level: Fail},
		{name: "role from its own SSO settings", config: "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsso_session = corp\n[sso-session corp]\n",
			check: "profile prod", phrase: "own IAM Identity Center settings", fix: "move the sso_ settings to a [profile NAME] of their own", level: Fail},
		{name: "name brokerd cannot serve", config: base + "[profile my dev]\nregion = eu-west-1\n",
			check: "profile my dev", phrase: `brokerd cannot serve [profile my dev], which SDKs read: the profile name "my dev" holds " "`, fix: "rename [profile my dev]", level: Warn},
		{name: "keys in the config file", config: "[profile dev]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n",
			check: "profile dev", phrase: "holds a secret access key in plain text", fix: "brokerd keys add dev (the same key), then delete aws_access_key_id", level: Fail},
		{name: "availability zone for a region", config: "[profile dev]\nregion = eu-west-1a\n",
			check: "profile dev", phrase: "region = eu-west-1a in [profile dev] is not the name of an AWS region", fix: "set region to a region's name", level: Warn},
		{name: "region misspelt", config: "[profile dev]\nregion = eu-west1\n",
			check: "profile dev", phrase: "region = eu-west1 in [profile dev] is not the name", fix: "set region", level: Warn},
		{name: "role in the credentials file", config: base, creds: "[prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n",
			check: "profile prod", phrase: "sets role_arn, source_profile, which SDKs read but brokerd does not", fix: "move those lines to [profile prod] of ", level: Warn},
		// The SDKs read [profile<TAB>ops] as ops: its keys are what is missing.
		{name: "tab in a header", config: "[profile\tops]\nregion = eu-west-1\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = ops\n",
			check: "profile ops", phrase: "the keychain has no keys for ops, whose keys sign for prod", fix: "brokerd keys add ops", level: Fail},
		{name: "bad duration", config: base + "[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\nduration_seconds = 10\n",
			check: "profile prod", phrase: "duration_seconds", fix: "fix [profile prod]", level: Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFinding(t, tt.config, tt.creds, tt.check, tt.phrase, tt.level, tt.fix)
		})
	}
}

// wantFinding runs doctor on the files config and creds (none when "") and
// checks that it reports check with phrase, at level, with fix, and that
// Failed says so exactly when the level is Fail.
func wantFinding(t *testing.T, config, creds, check, phrase string, level Level, fix string) {
	t.Helper()
	w := newWorld(t)
	write(t, w.env.ConfigFile, config)
	if creds != "" {
		write(t, w.env.CredentialsFile, creds)
	}
	checks := Run(context.Background(), w.env)
	wantCheck(t, checks, check, phrase, level, fix)
	if Failed(checks) != (level == Fail) {
		t.Errorf("Failed() = %v with a %v finding, want %v:\n%s", Failed(checks), level, level == Fail, printed(checks))
	}
}

// TestRun_QuickStartConfigClean checks that the README's config, with its
// keys in the keychain, raises nothing.
func TestRun_QuickStartConfigClean(t *testing.T) {
	w := newWorld(t)
	write(t, w.env.ConfigFile, "[profile dev]\nregion = eu-west-1\nmfa_serial = arn:aws:iam::111111111111:mfa/alice\n\n"+
		"[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n")
	checks := Run(context.Background(), w.env)
	for _, c := range checks {
		if c.Level != OK {
			t.Errorf("check %s = %v %q, want ok", c.Name, c.Level, c.Message)
		}
	}
}

func TestRun_ProfileVariables(t *testing.T) {
	tests := []struct {
		name         string
		vars         map[string]string
		config       string
		creds        string
		check        string
		phrase, fix  string
		shadowingOff bool // no finding: the shadowing check is ok
	}{
		{name: "AWS_DEFAULT_PROFILE with static keys", vars: map[string]string{"AWS_DEFAULT_PROFILE": "old"},
			creds: "[old]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n",
			check: "AWS_DEFAULT_PROFILE", phrase: "makes the aws CLI and boto3 (even before AWS_PROFILE)", fix: "brokerd keys import old"},
		{name: "AWS_PROFILE with a role", vars: map[string]string{"AWS_PROFILE": "admin"},
			config: "[profile admin]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = dev\n",
			check:  "AWS_PROFILE", phrase: "role_arn, source_profile", fix: "unset AWS_PROFILE"},
		{name: "AWS_PROFILE with a role in the credentials file", vars: map[string]string{"AWS_PROFILE": "admin"},
			creds: "[admin]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = dev\n",
			check: "AWS_PROFILE", phrase: "role_arn, source_profile in ", fix: "unset AWS_PROFILE"},
		{name: "AWS_PROFILE nowhere", vars: map[string]string{"AWS_PROFILE": "ghost"},
			check: "AWS_PROFILE", phrase: "The config profile (ghost) could not be found", fix: "unset AWS_PROFILE"},
		{name: "AWS_PROFILE for a region only", vars: map[string]string{"AWS_PROFILE": "eu"},
			config: "[profile eu]\nregion = eu-west-1\n", shadowingOff: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			for k, v := range tt.vars {
				w.vars[k] = v
			}
			write(t, w.env.ConfigFile, tt.config)
			write(t, w.env.CredentialsFile, tt.creds)
			checks := Run(context.Background(), w.env)
			if tt.shadowingOff {
				if c, _ := find(checks, "shadowing"); c.Level != OK {
					t.Errorf("shadowing = %+v, want ok", c)
				}
				return
			}
			wantCheck(t, checks, tt.check, tt.phrase, Fail, tt.fix)
		})
	}
}

func TestRun_Region(t *testing.T) {
	tests := []struct {
		name   string
		vars   map[string]string // on top of none
		config string
		level  Level
		phrase string
		fix    string
	}{
		{"AWS_REGION only: CLI v1 finds none", map[string]string{"AWS_REGION": "eu-west-1"}, "", Fail,
			"no region for aws CLI v1 and boto3 (it reads AWS_DEFAULT_REGION, then the region of profile default)", `eval "$(brokerd env)"`},
		{"none, the fix keeps the profile", map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "/v1/credentials/prod"},
			"[profile dev]\nregion = eu-west-1\n[profile prod]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n", Fail, "JS SDK v3", `eval "$(brokerd env prod)"`},
		{"none anywhere", map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "/v1/credentials/dev"}, "[profile dev]\nmfa_serial = GAHT12345678\n", Fail,
			"You must specify a region", "add region = REGION to [profile dev]"},
		{"from [default]", nil, "[default]\nregion = us-east-2\n", OK, "every SDK uses us-east-2", ""},
		{"disagreeing", map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"}, "", Warn,
			"eu-west-1 for aws CLI v2 from AWS_REGION", "same region"},
		{"AWS_DEFAULT_PROFILE's region for botocore only", map[string]string{"AWS_DEFAULT_PROFILE": "eu"},
			"[default]\nregion = us-east-2\n[profile eu]\nregion = eu-west-1\n", Warn, "eu-west-1 for aws CLI v1 and boto3 from profile eu", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			delete(w.vars, "AWS_REGION")
			delete(w.vars, "AWS_DEFAULT_REGION")
			for k, v := range tt.vars {
				if k == "AWS_CONTAINER_CREDENTIALS_FULL_URI" {
					v = w.vars[k] + strings.TrimPrefix(v, "/v1/credentials")
				}
				w.vars[k] = v
			}
			write(t, w.env.ConfigFile, tt.config)
			wantCheck(t, Run(context.Background(), w.env), "region", tt.phrase, tt.level, tt.fix)
		})
	}
}

// A shared file that exists but cannot be read is named with the fix: the
// SDKs skip it as if empty, and brokerd cannot load a config file it
// cannot read.
func TestRun_UnreadableFiles(t *testing.T) {
	tests := []struct {
		name     string
		spoil    func(t *testing.T, file string)
		rootSkip bool // root reads files of any mode
		fix      string
	}{
		{"a directory", func(t *testing.T, file string) {
			if err := os.Mkdir(file, 0o700); err != nil {
				t.Fatal(err)
			}
		}, false, "is a directory: move it away"},
		// AWS_CONFIG_FILE=<(…): reading it waited for a writer, for ever.
		{"a named pipe", func(t *testing.T, file string) {
			if err := syscall.Mkfifo(file, 0o600); err != nil {
				t.Skip(err)
			}
		}, false, "write the settings to a regular file"},
		{"no permission", func(t *testing.T, file string) { write(t, file, "[default]\n"); os.Chmod(file, 0) }, true, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rootSkip && os.Getuid() == 0 {
				t.Skip("root reads files of any mode")
			}
			w := newWorld(t)
			os.Remove(w.env.ConfigFile)
			os.Remove(w.env.CredentialsFile)
			tt.spoil(t, w.env.ConfigFile)
			tt.spoil(t, w.env.CredentialsFile)
			checks := Run(context.Background(), w.env)
			wantCheck(t, checks, "config file", "cannot read "+w.env.ConfigFile, Fail, tt.fix)
			wantCheck(t, checks, "credentials file", "cannot read "+w.env.CredentialsFile, Warn, tt.fix)
		})
	}
}

// The SDKs read a region from the credentials file's sections too.
func TestRun_RegionFromCredentialsFile(t *testing.T) {
	w := newWorld(t)
	delete(w.vars, "AWS_REGION")
	delete(w.vars, "AWS_DEFAULT_REGION")
	write(t, w.env.ConfigFile, "[profile dev]\n")
	write(t, w.env.CredentialsFile, "[default]\nregion = eu-west-1\n")
	wantCheck(t, Run(context.Background(), w.env), "region", "every SDK uses eu-west-1 (aws CLI v1 and boto3 from profile default", OK, "")
}

func TestRun_DaemonDown(t *testing.T) {
	w := newWorld(t)
	os.Remove(w.env.State.Join(state.EndpointFile))
	wantCheck(t, Run(context.Background(), w.env), "daemon", "[Errno 2] No such file or directory: '"+w.env.State.Join(state.TokenFile)+"'", Fail, "brokerd install")
}

func TestRun_EnvFixKeepsProfile(t *testing.T) {
	w := newWorld(t)
	w.vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:1/v1/credentials/prod"
	wantCheck(t, Run(context.Background(), w.env), "environment", "but brokerd serves", Fail, `eval "$(brokerd env prod)"`)
}

// noKeyring fails as the keychain does without a default keyring: it is
// ErrNoKeyring and ErrUnavailable both.
type noKeyring struct{}

func (noKeyring) Error() string { return keychain.ErrNoKeyring.Error() }
func (noKeyring) Is(target error) bool {
	return target == keychain.ErrNoKeyring || target == keychain.ErrUnavailable
}

func TestRun_KeychainFixByCause(t *testing.T) {
	tests := []struct {
		err error
		fix string
	}{
		{keychain.ErrLocked, "unlock the login keychain"},
		{keychain.ErrUnavailable, "start a Secret Service"},
		{noKeyring{}, "create a default keyring"},
		{keychain.ErrTimeout, "answer the unlock prompt"},
		{errors.New("dbus: something odd"), "make the OS keychain reachable"},
	}
	for _, tt := range tests {
		w := newWorld(t)
		w.env.Keychain = func(context.Context) ([]string, error) { return nil, fmt.Errorf("list profiles: %w", tt.err) }
		c, _ := find(Run(context.Background(), w.env), "keychain")
		if c.Level != Fail || !strings.Contains(c.Fix, tt.fix) {
			t.Errorf("keychain check for %v = %+v, want FAIL with fix %q", tt.err, c, tt.fix)
		}
	}
}

func TestRun_STSUnreachable(t *testing.T) {
	w := newWorld(t)
	w.env.STSTime = func(context.Context) (time.Time, error) {
		return time.Time{}, fmt.Errorf("reach STS: %w", &smithyhttp.RequestSendError{Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")})
	}
	checks := Run(context.Background(), w.env)
	wantCheck(t, checks, "STS", "STS cannot be reached", Fail, "network")
	if c, ok := find(checks, "clock"); ok {
		t.Errorf("clock check %+v beside STS unreachable, want none", c)
	}
}

// TestFailed_exactly checks that doctor fails exactly when a check does:
// warnings alone pass.
func TestFailed_exactly(t *testing.T) {
	w := newWorld(t)
	if checks := Run(context.Background(), w.env); Failed(checks) {
		t.Fatalf("healthy world failed:\n%s", printed(checks))
	}
	w.env.STSTime = func(context.Context) (time.Time, error) { return now.Add(2 * time.Minute), nil }
	if checks := Run(context.Background(), w.env); Failed(checks) {
		t.Errorf("a warning alone failed:\n%s", printed(checks))
	}
	w.vars["AWS_PROFILE"] = "ghost"
	if checks := Run(context.Background(), w.env); !Failed(checks) {
		t.Errorf("a failing check did not fail:\n%s", printed(checks))
	}
}

func TestPrintJSON(t *testing.T) {
	w := newWorld(t)
	w.vars["AWS_PROFILE"] = "ghost"
	var b bytes.Buffer
	if err := PrintJSON(&b, Run(context.Background(), w.env)); err != nil {
		t.Fatal(err)
	}
	var r struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name, Level, Message, Fix string
		} `json:"checks"`
	}
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatalf("PrintJSON wrote %s: %v", b.String(), err)
	}
	levels := map[string]int{}
	for _, c := range r.Checks {
		levels[c.Level]++
	}
	if r.OK || levels["fail"] == 0 || levels["ok"] == 0 || len(levels) > 3 {
		t.Errorf("PrintJSON = ok %v, levels %v, want not ok, with fail and ok levels in lower case", r.OK, levels)
	}
	var empty bytes.Buffer
	PrintJSON(&empty, nil)
	if !strings.Contains(empty.String(), `"checks": []`) {
		t.Errorf("PrintJSON(nil) = %s, want an empty list", empty.String())
	}
	_ = http.StatusOK
}

func TestRegionName(t *testing.T) {
	for name, want := range map[string]bool{
		"eu-west-1": true, "us-gov-west-1": true, "cn-north-1": true, "eusc-de-east-1": true, "us-isob-east-1": true,
		"aws-global": true, "aws-us-gov-global": true,
		"eu-west-1a": false, "eu-west1": false, "Ireland": false, "EU-WEST-1": false, "local": false,
	} {
		if got := regionName.MatchString(name); got != want {
			t.Errorf("regionName.MatchString(%q) = %v, want %v", name, got, want)
		}
	}
}

// No check shows a secret key or token that a broken line of a shared file
// holds: pasted on a line of its own (a token may end in =), or after an
// = without a name.
func TestRun_BrokenLinesShowNoSecret(t *testing.T) {
	const secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEBYaDGhpZGRlbnRva2VuMTIzNDU2Nzg5MA=="
	w := newWorld(t)
	write(t, w.env.ConfigFile, "[profile dev]\nregion = eu-west-1\n"+token+"\n"+secret+"\n")
	write(t, w.env.CredentialsFile, "[work]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key =\n"+secret+"\n[old]\n= "+secret+"\n")
	checks := Run(context.Background(), w.env)
	out := strings.ToLower(printed(checks)) // the lint lowers key names
	if strings.Contains(out, strings.ToLower(secret)) || strings.Contains(out, strings.ToLower(strings.TrimRight(token, "="))) {
		t.Errorf("Run() shows a secret of a broken line:\n%s", out)
	}
	wantCheck(t, checks, "syntax", w.env.CredentialsFile+" line 4: the line is neither a setting", Fail, "on line 4 of")
	wantCheck(t, checks, "syntax", w.env.CredentialsFile+" line 6: the line has no setting name before the =", Fail, "on line 6 of")
	wantCheck(t, checks, "profile dev", "may be a pasted key or token (not shown)", Warn, "delete it")
}

// TestBotocoreProblems_ShowNoSecret checks that the syntax check names a
// broken line by its number only, whatever the line holds.
func TestBotocoreProblems_ShowNoSecret(t *testing.T) {
	const secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEBYaDGhpZGRlbnRva2VuMTIzNDU2Nzg5MA=="
	const plain = "wJalrXUtnFEMI0K7MDENG1bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		name, text string
		line       int
		why        string
	}{
		{"header without ]", "[profile a]\nregion = x\n[" + secret + "\n", 3, "has no closing ]"},
		{"header without ] after a profile name", "[profile a]\n[profile b " + secret + "\n", 2, "has no closing ]"},
		{"a token pasted twice", "[profile a]\n" + token + "\n" + token + "\n", 3, "is set a second time in [profile a] (first on line 2)"},
		{"a token before any section", token + "\n[profile a]\n", 1, "before any [section]"},
		// A secret key without / or + looks like a setting's name once
		// lowered, but for its length.
		{"a plain secret set twice", "[profile a]\n" + plain + " = 1\n" + plain + " = 2\n", 3, "is set a second time in [profile a] (first on line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := botocoreProblems([]byte(tt.text))
			if len(got) != 1 || got[0].line != tt.line || !strings.Contains(got[0].why, tt.why) {
				t.Fatalf("botocoreProblems(%q) = %+v, want one problem on line %d saying %q", tt.text, got, tt.line, tt.why)
			}
			for _, s := range []string{got[0].why, got[0].fix} {
				if low := strings.ToLower(s); strings.Contains(low, strings.ToLower(secret)) || strings.Contains(low, strings.ToLower(plain)) || strings.Contains(low, strings.ToLower(strings.TrimRight(token, "="))) {
					t.Errorf("botocoreProblems(%q) = %q, which shows the secret", tt.text, s)
				}
			}
		})
	}
}

// TestRun_LintReadsAsTheSDKs checks that the lint reads the config file as
// profile (and aws-sdk-go-v2) read it, so that it reports no problem of a
// section the SDKs do not use: with [profile default] in the file,
// [default] is not read.
func TestRun_LintReadsAsTheSDKs(t *testing.T) {
	tests := []struct {
		name, config, check, absent string
	}{
		{"[default] after [profile default]", "[profile default]\nregion = eu-west-1\n[default]\nrole_arn = arn:aws:iam::1:role/R\n",
			"profile default", "role_arn but no source_profile"},
		{"[default] before [profile default]", "[default]\nrole_arn = arn:aws:iam::1:role/R\n[profile default]\nregion = eu-west-1\n",
			"profile default", "role_arn but no source_profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			write(t, w.env.ConfigFile, tt.config)
			for _, c := range Run(context.Background(), w.env) {
				if c.Name == tt.check && strings.Contains(c.Message, tt.absent) {
					t.Errorf("Run() with config %q = %+v, a section the SDKs do not read", tt.config, c)
				}
			}
		})
	}
}

// TestRun_SDKsDisagree checks the findings on files that botocore reads
// otherwise than the Go SDK and brokerd.
func TestRun_SDKsDisagree(t *testing.T) {
	const dev = "[profile dev]\nregion = eu-west-1\n"
	tests := []struct {
		name, config       string
		check, phrase, fix string
		level              Level
		creds              string
	}{
		{"services naming no section", dev + "services = local\n",
			"profile dev", "services = local in [profile dev] names no [services local] section, so the aws CLI and boto3 stop", "add a [services local] section", Fail, ""},
		{"[default] last", "[profile default]\nregion = eu-west-1\n[default]\nregion = us-east-2\n",
			"profile default", "but the aws CLI and boto3 read [default], which comes last", "merge the two into one [default] section", Fail, ""},
		// A source profile whose keys sign for another: deleting them
		// alone would change which identity assumes that role.
		{"keys of a role that is a source", "[profile base]\nregion = eu-west-1\n" +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = base\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" +
			"[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"profile mid", "as the source_profile of top it signs with that key",
			"brokerd keys add mid-keys (the same key), add a [profile mid-keys] section without role_arn and set source_profile = mid-keys in [profile top], then delete aws_access_key_id", Fail, ""},
		{"a service's value on its line", dev + "services = local\n[services local]\nsts = http://127.0.0.1:5000\n",
			"services", "[services local] of", "write it as two lines in [services local]: sts = and below it, indented, endpoint_url = URL", Fail, ""},
		{"keys in the credentials file of a role that is a source", "[profile base]\nregion = eu-west-1\n" +
			"[profile mid]\nrole_arn = arn:aws:iam::1:role/M\nsource_profile = base\n[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = mid\n",
			"profile mid", "holds keys, so SDKs reading the files sign the role of top with them", "rename [mid] to [mid-keys] in", Fail,
			"[mid]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = s\n"},
		// The Go SDK assumes the role with the profile's own keys; botocore
		// refuses a role_arn without source_profile.
		{"role_arn without source_profile but keys", "[profile solo]\nrole_arn = arn:aws:iam::1:role/S\n",
			"profile solo", "the Go SDK assumes the role with the profile's own keys, but the aws CLI, boto3 and brokerd cannot",
			"add source_profile = solo (the profile itself) to [profile solo]", Fail,
			"[solo]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = s\n"},
		{"[profile default] last", "[default]\nregion = us-east-2\n[profile default]\nregion = eu-west-1\n",
			"profile default", "any change of order makes them read [default]", "merge the two", Warn, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFinding(t, tt.config, tt.creds, tt.check, tt.phrase, tt.level, tt.fix)
		})
	}
	// With the section there, nothing to say.
	w := newWorld(t)
	write(t, w.env.ConfigFile, dev+"services = local\n[services local]\nsts =\n  endpoint_url = http://127.0.0.1:5000\n")
	if checks := Run(context.Background(), w.env); Failed(checks) {
		t.Errorf("Run() with a [services local] section fails:\n%s", printed(checks))
	}
}

// TestValueProblems checks the settings whose value the aws CLI and boto3
// read otherwise than the Go SDK and brokerd (each case checked with aws
// configure get), and that no value is shown.
func TestValueProblems(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		name, text string
		lines      []int
		why        string
	}{
		{"comment after a value", "[default]\nregion = eu-west-1 # Ireland\n", []int{2}, "the value of region is followed by a comment"},
		{"semicolon comment after a tab", "[default]\noutput = json\t; fmt\n", []int{2}, "the value of output is followed by a comment"},
		{"a comment for a value", "[default]\nregion = # none\n", []int{2}, "followed by a comment"},
		{"double quotes", "[default]\nregion = \"eu-west-1\"\n", []int{2}, "the value of region is in quotes"},
		{"single quotes on a secret", "[dev]\naws_secret_access_key = '" + secret + "'\n", []int{2}, "the value of aws_secret_access_key is in quotes"},
		{"a secret with a comment", "[dev]\naws_secret_access_key = " + secret + " # old\n", []int{2}, "is followed by a comment"},
		{"colon", "[default]\nregion: eu-west-1 ; x\n", []int{2}, "the value of region is followed by a comment"},
		{"fine", "# c\n[default] ; c\nregion = eu-west-1\nexternal_id = ab#cd;e\ns3 =\n  addressing_style = path # kept by both\n\n; c\n", nil, ""},
		{"a quote inside", "[default]\nmfa_process = op read 'x'\n", nil, ""},
		{"before any section", "region = \"x\"\n[default]\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := valueProblems([]byte(tt.text))
			var lines []int
			for _, p := range got {
				lines = append(lines, p.line)
				if !strings.Contains(p.why, tt.why) {
					t.Errorf("valueProblems(%q) line %d: %q, want it to say %q", tt.text, p.line, p.why, tt.why)
				}
				if strings.Contains(p.why+p.fix, secret) || strings.Contains(p.why+p.fix, "eu-west-1") {
					t.Errorf("valueProblems(%q) = %+v, which shows the value", tt.text, p)
				}
			}
			if fmt.Sprint(lines) != fmt.Sprint(tt.lines) {
				t.Errorf("valueProblems(%q) on lines %v, want %v", tt.text, lines, tt.lines)
			}
		})
	}
}

// TestRun_UnusedKeysOfARole checks the warning for keys in the keychain
// of a role that has a source_profile: brokerd never signs with them.
func TestRun_UnusedKeysOfARole(t *testing.T) {
	const base = "[profile base]\nregion = eu-west-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/D\nsource_profile = base\n"
	tests := []struct {
		name, config, phrase, fix string
	}{
		{"a role", base, "the keychain holds keys for dev, which brokerd never signs with: [profile dev] has role_arn and source_profile, so brokerd assumes its role",
			"brokerd keys remove dev"},
		{"a role that is a source", base + "[profile top]\nrole_arn = arn:aws:iam::1:role/T\nsource_profile = dev\n", "so brokerd assumes its role, for top too",
			"brokerd keys add dev-keys (the same key), add a [profile dev-keys] section and set source_profile = dev-keys in [profile top], then brokerd keys remove dev; else brokerd keys remove dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t) // the keychain has keys for dev
			write(t, w.env.ConfigFile, tt.config)
			wantCheck(t, Run(context.Background(), w.env), "profile dev", tt.phrase, Warn, tt.fix)
		})
	}
	// Self-sourced, its keys sign.
	w := newWorld(t)
	write(t, w.env.ConfigFile, "[profile dev]\nrole_arn = arn:aws:iam::1:role/D\nsource_profile = dev\n")
	for _, c := range Run(context.Background(), w.env) {
		if strings.Contains(c.Message, "never signs with") {
			t.Errorf("Run() with a self-sourced role = %+v, want no warning", c)
		}
	}
}

// TestRun_IgnoreEndpointsVar checks that an
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS the SDKs read differently is
// reported, and true or false are not.
func TestRun_IgnoreEndpointsVar(t *testing.T) {
	for _, v := range []string{"yes", "1", "TRUE", "false"} {
		t.Run(v, func(t *testing.T) {
			w := newWorld(t)
			w.vars["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = v
			checks := Run(context.Background(), w.env)
			c, found := find(checks, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
			if want := v == "yes" || v == "1"; found != want {
				t.Fatalf("Run() with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=%s reports it: %v, want %v:\n%s", v, found, want, printed(checks))
			}
			if found && (c.Level != Warn || !strings.Contains(c.Message, "botocore and the aws CLI read it as false") || c.Fix != "export AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true or false, or unset it") {
				t.Errorf("Run() with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=%s = %+v, want a warning saying how the SDKs read it, and its fix", v, c)
			}
		})
	}
}
