//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/brokerd/brokerd/keychain"
)

// expect is a small expect(1) in Python: it runs a command on a pseudo
// terminal, and for each pair of its JSON argument waits for the text, then
// types the answer; it prints all the terminal showed and exits with the
// command's status.
const expect = `
import json, os, pty, select, sys, time
pairs = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
seen = b""
def read(timeout):
    global seen
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return None
    if not chunk:
        return None
    seen += chunk
    return True
for want, answer in pairs:
    deadline = time.time() + 20
    while want.encode() not in seen:
        if time.time() > deadline or read(deadline - time.time()) is None:
            sys.stdout.write(seen.decode(errors="replace"))
            sys.stderr.write("expect: never saw %r\n" % want)
            sys.exit(99)
    time.sleep(0.3)  # as a person reads the prompt: no typing ahead
    os.write(fd, answer.encode())
while read(20):
    pass
sys.stdout.write(seen.decode(errors="replace"))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`

// onTerminal runs brokerd with args on a terminal, answering each prompt
// of pairs in turn ([prompt, answer]).
func (e *Env) onTerminal(t *testing.T, pairs [][2]string, args ...string) result {
	t.Helper()
	b, _ := json.Marshal(pairs)
	return e.exec(t, nil, "", "python3", append([]string{"-c", expect, string(b), brokerdBin}, args...)...)
}

// TestKeysAddChecksKeyIDFirst checks that keys add names what is wrong
// with a key id before the secret is asked for: on a terminal the secret
// prompt never shows, and from a pipe the one line read is judged.
func TestKeysAddChecksKeyIDFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := randomKeys(t)
	profile := e.profile("dev")
	t.Run("terminal", func(t *testing.T) {
		r := e.onTerminal(t, [][2]string{{"Access key id: ", "ASIA" + k.ID[4:] + "\n"}}, "keys", "add", profile)
		if r.code == 0 || !strings.Contains(r.stdout, "access key id starts with ASIA: that is a temporary access key from STS") {
			t.Errorf("keys add on a terminal with an ASIA id: %v, want the problem named", r)
		}
		if strings.Contains(r.stdout, "Secret access key") {
			t.Errorf("keys add asked for the secret after a temporary key id: %q", r.stdout)
		}
		r = e.onTerminal(t, [][2]string{{"Access key id: ", k.ID + "\n"}, {"Secret access key (not shown): ", k.Secret + "\n"}}, "keys", "add", profile)
		t.Cleanup(func() { e.run(t, "", "keys", "remove", profile) })
		if r.code != 0 || !strings.Contains(r.stdout, "stored keys "+k.masked()) || strings.Contains(r.stdout, k.Secret) {
			t.Errorf("keys add on a terminal: %v, want the keys stored and the secret not echoed", r)
		}
	})
	t.Run("pipe", func(t *testing.T) {
		for _, tc := range []struct{ id, want string }{
			{"ASIA" + k.ID[4:], "temporary access key from STS, not a long-term key"},
			{"AIDA" + k.ID[4:], "the unique id of an IAM user, not an access key id"},
			{k.ID[:19], "has 19 characters, want 20"},
		} {
			r := e.run(t, tc.id+"\n", "keys", "add", e.profile("pipe"))
			wantOneLineError(t, r, tc.want)
			if strings.Contains(r.stderr, "two lines") {
				t.Errorf("keys add with a bad id and no secret: %q, want the id judged first", r.stderr)
			}
		}
	})
	t.Run("profile name", func(t *testing.T) {
		r := e.run(t, k.stdin(), "keys", "add", "_profiles")
		wantOneLineError(t, r, `profile name "_profiles" is not valid: start it with a letter or digit`)
	})
}

// TestLoginPromptNamesSource checks that `brokerd login prod` asks for the
// code of the profile whose session it opens, dev, not prod.
func TestLoginPromptNamesSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, "[profile {dev}]\nmfa_serial = arn:aws:iam::111111111111:mfa/alice\n[profile {prod}]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = {dev}\n")
	e.addKeys(t, e.profile("dev"), randomKeys(t))
	e.startDaemon(t)
	prompt := "MFA code for " + e.profile("dev") + " (arn:aws:iam::111111111111:mfa/alice): "
	r := e.onTerminal(t, [][2]string{{"MFA code for ", "123456\n"}}, "login", e.profile("prod"), "--duration", "1h")
	if !strings.Contains(r.stdout, prompt) {
		t.Errorf("brokerd login %s on a terminal showed %q, want the prompt %q", e.profile("prod"), r.stdout, prompt)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "MFA session of profile "+e.profile("dev")+" open until") {
		t.Errorf("brokerd login on a terminal: %v, want dev's session open", r)
	}
}

// TestKeysListJSON checks that keys list --json is JSON with masked ids.
func TestKeysListJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := randomKeys(t)
	e.addKeys(t, e.profile("dev"), k)
	out := e.mustRun(t, "", "keys", "list", "--json")
	var list []struct {
		Profile     string `json:"profile"`
		AccessKeyID string `json:"access_key_id"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("keys list --json printed %q: %v", out, err)
	}
	i := slices.IndexFunc(list, func(l struct {
		Profile     string `json:"profile"`
		AccessKeyID string `json:"access_key_id"`
	}) bool {
		return l.Profile == e.profile("dev")
	})
	if i < 0 || list[i].AccessKeyID != k.masked() {
		t.Errorf("keys list --json = %s, want %s with %s", out, e.profile("dev"), k.masked())
	}
	if strings.Contains(out, k.ID) || strings.Contains(out, k.Secret) {
		t.Errorf("keys list --json shows a whole key id or secret: %s", out)
	}
	if out := e.mustRun(t, "", "keys", "ls"); !strings.Contains(out, e.profile("dev")+"\t"+k.masked()) {
		t.Errorf("keys ls = %q, want the list", out)
	}
}

// TestKeysImport moves keys out of the shared credentials file: the file is
// byte-identical but for the section removed (comments, other sections and
// CRLF lines included), the keychain holds the keys, and a running daemon
// uses them at once. An ambiguous section is refused with nothing changed.
func TestKeysImport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	k, other := randomKeys(t), randomKeys(t)
	d := e.startDaemon(t)
	credentials := filepath.Join(e.Dir, "credentials")
	head := "# my keys\r\n[other]\naws_access_key_id = " + other.ID + "\naws_secret_access_key = " + other.Secret + "\n\n"
	section := "; dev's keys, to move\n[" + dev + "]\naws_access_key_id = " + k.ID + "\naws_secret_access_key = " + k.Secret + "\n\n"
	tail := "[zeta] ; last\r\naws_access_key_id=" + other.ID + "\r\naws_secret_access_key=" + other.Secret
	// The comment above [dev] belongs to [other] in an ini file; it stays.
	before := head + section + tail
	if err := os.WriteFile(credentials, []byte(before), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(credentials, 0o640); err != nil { // newEnv made it 0600
		t.Fatal(err)
	}
	t.Cleanup(func() { e.run(t, "", "keys", "remove", dev) })
	out := e.mustRun(t, "", "keys", "import", dev)
	if want := "moved keys " + k.masked() + " of profile " + dev + " into the keychain and removed [" + dev + "] from " + credentials; !strings.Contains(out, want) {
		t.Errorf("keys import printed %q, want %q", out, want)
	}
	after, err := os.ReadFile(credentials)
	if err != nil {
		t.Fatal(err)
	}
	want := head + "; dev's keys, to move\n" + tail
	if string(after) != want {
		t.Errorf("credentials file after import:\n%q\nwant every other byte kept:\n%q", after, want)
	}
	if fi, _ := os.Stat(credentials); fi.Mode().Perm() != 0o640 {
		t.Errorf("credentials file mode %v after import, want 0640 kept", fi.Mode().Perm())
	}
	if list := e.mustRun(t, "", "keys", "list"); !strings.Contains(list, dev+"\t"+k.masked()) {
		t.Errorf("keys list = %q after import, want %s with %s", list, dev, k.masked())
	}
	d.credentials(t, prod) // the daemon signs with the imported keys

	t.Run("refused", func(t *testing.T) {
		twice := "[" + dev + "]\naws_access_key_id = " + k.ID + "\n[" + dev + "]\naws_secret_access_key = " + k.Secret + "\n"
		for name, text := range map[string]string{
			"section twice": twice,
			"session token": "[" + dev + "]\naws_access_key_id = " + k.ID + "\naws_secret_access_key = " + k.Secret + "\naws_session_token = x\n",
			"missing":       "[other]\naws_access_key_id = " + k.ID + "\n",
		} {
			if err := os.WriteFile(credentials, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			r := e.run(t, "", "keys", "import", dev)
			if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("keys import of %s: %v, want one line and a failure", name, r)
			}
			if strings.Contains(r.stderr, k.Secret) {
				t.Errorf("keys import of %s quoted the secret: %q", name, r.stderr)
			}
			if got, _ := os.ReadFile(credentials); string(got) != text {
				t.Errorf("keys import of %s changed the file to %q", name, got)
			}
		}
	})
}

// TestKeysKeepStoredKeys checks that keys add and keys import replace
// other keys of a profile only with --replace: the secret of a long-term
// key is shown once, when it is made, so keys replaced by mistake (the
// wrong profile named) would be lost. A different key id is refused before
// the secret is read; the same keys again are no change.
func TestKeysKeepStoredKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.profile("dev")
	k, other := randomKeys(t), randomKeys(t)
	e.addKeys(t, dev, k)
	listed := func() string { return e.mustRun(t, "", "keys", "list") }

	r := e.run(t, other.stdin(), "keys", "add", dev)
	wantOneLineError(t, r, "profile "+dev+" has keys "+k.masked()+" in the keychain already: add --replace to replace them")
	if strings.Contains(r.stdout+r.stderr, other.Secret) || strings.Contains(r.stdout+r.stderr, k.Secret) {
		t.Errorf("keys add quoted a secret: %v", r)
	}
	// The key id alone is refused: the secret is not asked for.
	r = e.run(t, other.ID+"\n", "keys", "add", dev)
	wantOneLineError(t, r, "add --replace to replace them")
	// The same key id with another secret is refused too.
	r = e.run(t, k.ID+"\n"+other.Secret+"\n", "keys", "add", dev)
	wantOneLineError(t, r, "add --replace to replace them")
	if list := listed(); !strings.Contains(list, dev+"\t"+k.masked()) {
		t.Fatalf("keys list = %q after refused adds, want %s with %s kept", list, dev, k.masked())
	}
	if out := e.mustRun(t, k.stdin(), "keys", "add", dev); !strings.Contains(out, "keys "+k.masked()+" of profile "+dev+" are in the keychain already") {
		t.Errorf("keys add of the same keys printed %q, want that they are stored already", out)
	}

	credentials := filepath.Join(e.Dir, "credentials")
	text := "[" + dev + "]\naws_access_key_id = " + other.ID + "\naws_secret_access_key = " + other.Secret + "\n"
	if err := os.WriteFile(credentials, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run(t, "", "keys", "import", dev)
	wantOneLineError(t, r, "profile "+dev+" has keys "+k.masked()+" in the keychain already: add --replace")
	if got, _ := os.ReadFile(credentials); string(got) != text {
		t.Errorf("a refused keys import changed the file to %q", got)
	}
	if list := listed(); !strings.Contains(list, dev+"\t"+k.masked()) {
		t.Fatalf("keys list = %q after a refused import, want %s with %s kept", list, dev, k.masked())
	}
	r = e.run(t, "", "keys", "import", dev, "--replace")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: they replace the keys "+k.masked()) {
		t.Errorf("keys import --replace = %v, want the keys moved and a warning naming those replaced", r)
	}
	if list := listed(); !strings.Contains(list, dev+"\t"+other.masked()) {
		t.Errorf("keys list = %q after keys import --replace, want %s with %s", list, dev, other.masked())
	}
	e.replaceKeys(t, dev, k)
	if list := listed(); !strings.Contains(list, dev+"\t"+k.masked()) {
		t.Errorf("keys list = %q after keys add --replace, want %s with %s", list, dev, k.masked())
	}
}

// TestKeysAddFromEnv stores the keys of AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, and says to unset them: left in the shell, they
// would shadow brokerd in every SDK started from it.
func TestKeysAddFromEnv(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.profile("dev")
	k := randomKeys(t)
	t.Cleanup(func() { e.run(t, "", "keys", "remove", dev) })
	keychainWrites.Lock()
	r := e.exec(t, map[string]string{"AWS_ACCESS_KEY_ID": k.ID, "AWS_SECRET_ACCESS_KEY": k.Secret}, "", brokerdBin, "keys", "add", dev, "--from-env")
	keychainWrites.Unlock()
	if want := "stored keys " + k.masked() + " for profile " + dev; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("keys add --from-env = %v, want exit 0 and %q", r, want)
	}
	if want := "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY"; !strings.Contains(r.stderr, want) {
		t.Errorf("keys add --from-env said %q, want it to say to %s", r.stderr, want)
	}
	if strings.Contains(r.stdout+r.stderr, k.Secret) {
		t.Errorf("keys add --from-env printed the secret: %v", r)
	}
	if list := e.mustRun(t, "", "keys", "list"); !strings.Contains(list, dev+"\t"+k.masked()) {
		t.Errorf("keys list = %q, want %s with %s", list, dev, k.masked())
	}
}

// TestKeysImportFromPipe imports keys from what a command prints, as
// AWS_SHARED_CREDENTIALS_FILE=<(pass show aws) brokerd keys import dev
// does in bash: the keys are stored and the running daemon told, and it
// succeeds, there being no file to remove them from. What is no
// credentials file is refused in one line at once: a device that never
// ends, a named pipe nothing writes to (which reading would wait on for
// ever), a file of gigabytes (which reading would hold in memory).
func TestKeysImportFromPipe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, roleConfig)
	dev, prod := e.profile("dev"), e.profile("prod")
	k := randomKeys(t)
	d := e.startDaemon(t)
	t.Cleanup(func() { e.run(t, "", "keys", "remove", dev) })
	creds := "# from pass\n[" + dev + "]\naws_access_key_id = " + k.ID + "\naws_secret_access_key = " + k.Secret + "\n"
	importWith := func(script string) result {
		t.Helper()
		keychainWrites.Lock() // keys import writes the keychain's index, as keys add does
		defer keychainWrites.Unlock()
		return e.exec(t, map[string]string{"CREDS": creds, "PROFILE": dev}, "", "bash", "-c", script)
	}
	// The writer takes its time, as pass does while gpg asks for a passphrase.
	r := importWith(`AWS_SHARED_CREDENTIALS_FILE=<(sleep 0.5; printf '%s' "$CREDS") brokerd keys import "$PROFILE"`)
	if want := "stored keys " + k.masked() + " of profile " + dev + " from /dev/fd/"; r.code != 0 || !strings.HasPrefix(r.stdout, want) || r.stderr != "" {
		t.Errorf("keys import from <(…) = %v, want exit 0 and %q…", r, want)
	}
	if strings.Contains(r.stdout+r.stderr, k.Secret) {
		t.Errorf("keys import from <(…) printed the secret: %v", r)
	}
	if list := e.mustRun(t, "", "keys", "list"); !strings.Contains(list, dev+"\t"+k.masked()) {
		t.Errorf("keys list = %q after import, want %s with %s", list, dev, k.masked())
	}
	d.credentials(t, prod) // the daemon signs with the imported keys
	// A pipe on standard input, as /dev/stdin.
	r = importWith(`printf '%s' "$CREDS" | AWS_SHARED_CREDENTIALS_FILE=/dev/stdin brokerd keys import "$PROFILE"`)
	if r.code != 0 || !strings.Contains(r.stdout, "stored keys "+k.masked()) {
		t.Errorf("keys import from /dev/stdin, a pipe = %v, want the keys stored", r)
	}
	r = importWith(`AWS_SHARED_CREDENTIALS_FILE=<(printf '[other]\n') brokerd keys import "$PROFILE"`)
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || !strings.Contains(r.stderr, "no section ["+dev+"]") {
		t.Errorf("keys import from a pipe without the section = %v, want one line saying so", r)
	}

	fifo := filepath.Join(e.Dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(e.Dir, "huge")
	if err := os.WriteFile(huge, []byte(creds), 0o600); err != nil || os.Truncate(huge, 1<<30) != nil { // sparse
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "/dev/zero is not a credentials file but a device"},
		{fifo, fifo + " (a pipe) gave nothing"},
		{huge, huge + " is 1024 MiB, over the 16 MiB a credentials file may be"},
	} {
		r := e.exec(t, map[string]string{"AWS_SHARED_CREDENTIALS_FILE": tc.path}, "", brokerdBin, "keys", "import", dev)
		wantOneLineError(t, r, tc.want)
	}
}

// rotateFaults is a proxy in front of the moto_server that checks keys,
// for IAM and STS, that fails one step of a rotation on demand and
// records who signed each call.
type rotateFaults struct {
	*httptest.Server
	mu      sync.Mutex
	fail    string // "create", "verify", "delete" or ""
	old     string // the old key's id
	signers map[string][]string
}

func newRotateFaults(t *testing.T) *rotateFaults {
	target, _ := url.Parse(authSTS.moto.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = fixMotoErrors
	f := &rotateFaults{signers: map[string][]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		action := form.Get("Action")
		_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		signer, _, _ := strings.Cut(cred, "/")
		f.mu.Lock()
		f.signers[action] = append(f.signers[action], signer)
		fail := f.fail == "create" && action == "CreateAccessKey" ||
			f.fail == "verify" && action == "GetCallerIdentity" && signer != f.old && strings.HasPrefix(signer, "AKIA") ||
			f.fail == "delete" && action == "DeleteAccessKey" && form.Get("AccessKeyId") == f.old
		f.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusBadRequest)
			code := map[string]string{"CreateAccessKey": "LimitExceeded", "GetCallerIdentity": "InvalidClientTokenId", "DeleteAccessKey": "ServiceFailure"}[action]
			io.WriteString(w, "<ErrorResponse><Error><Type>Sender</Type><Code>"+code+"</Code><Message>injected by the test</Message></Error><RequestId>1</RequestId></ErrorResponse>")
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *rotateFaults) set(fail, old string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.old = fail, old
}

// TestKeysRotate rotates keys against moto's IAM (with IAM authentication
// on): the new key works, the old is deleted, the keychain holds the new
// one; a failure injected at each step (create, verify, delete) leaves a
// working key stored.
func TestKeysRotate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fail     string
		newKey   bool   // the keychain ends with a new key
		keys     int    // the user's keys at IAM afterwards
		phrase   string // in the error
		oldWorks bool
	}{
		{"", true, 1, "", false},
		{"create", false, 1, "nothing changed", true},
		{"verify", false, 1, "is stored again and the new key deleted", true},
		{"delete", true, 2, "is stored and works, but deleting the old key", true},
	} {
		t.Run("fail="+tc.fail, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			faults := newRotateFaults(t)
			e.setenv("AWS_ENDPOINT_URL_IAM", faults.URL)
			e.setenv("AWS_ENDPOINT_URL_STS", faults.URL)
			user := authSTS.newUser(t, e.profile("user"), false)
			if err := authSTS.iam(context.Background(), authSTS.admin, "PutUserPolicy", url.Values{"UserName": {user}, "PolicyName": {"keys"},
				"PolicyDocument": {allowPolicy("iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey")}}, nil); err != nil {
				t.Fatal(err)
			}
			old := authSTS.newAccessKey(t, user)
			profile := e.profile("dev")
			e.addKeys(t, profile, old)
			faults.set(tc.fail, old.ID)

			r := e.run(t, "", "keys", "rotate", profile)
			if tc.fail == "" {
				if r.code != 0 || !strings.Contains(r.stdout, "rotated the access key of IAM user "+user+" for profile "+profile) {
					t.Fatalf("keys rotate: %v", r)
				}
			} else {
				wantOneLineError(t, r, tc.phrase)
			}
			for _, s := range []string{old.ID, old.Secret} {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("keys rotate showed a whole key id or secret: %v", r)
				}
			}
			stored, err := keychain.New(keychain.System{}).Keys(context.Background(), profile)
			if err != nil {
				t.Fatal(err)
			}
			if (stored.AccessKeyID != old.ID) != tc.newKey {
				t.Errorf("the keychain holds %s, want a new key: %v", mask(stored.AccessKeyID), tc.newKey)
			}
			if arn, err := callerARN(stored); err != nil || !strings.HasSuffix(arn, ":user/"+user) {
				t.Errorf("the stored key %s: GetCallerIdentity = %q, %v, want user/%s: it must work", mask(stored.AccessKeyID), arn, err, user)
			}
			if _, err := callerARN(keychain.Keys{AccessKeyID: old.ID, SecretAccessKey: old.Secret}); (err == nil) != tc.oldWorks {
				t.Errorf("the old key works: %v, want %v", err == nil, tc.oldWorks)
			}
			var ids struct {
				IDs []string `xml:"ListAccessKeysResult>AccessKeyMetadata>member>AccessKeyId"`
			}
			if err := authSTS.iam(context.Background(), authSTS.admin, "ListAccessKeys", url.Values{"UserName": {user}}, &ids); err != nil {
				t.Fatal(err)
			}
			if len(ids.IDs) != tc.keys || !slices.Contains(ids.IDs, stored.AccessKeyID) {
				t.Errorf("IAM lists keys %v for %s, want %d with the stored one", ids.IDs, user, tc.keys)
			}
		})
	}
}

// callerARN asks the STS that checks keys who k is.
func callerARN(k keychain.Keys) (string, error) {
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(authSTS.URL),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}

// privateKeyring runs its arguments under dbus-run-session against a
// gnome-keyring of their own in $D, which the shell commands $SETUP start
// ($PW is the password) and $AFTER change once it answers. It prints the
// exit status and writes standard error to $D/stderr.
const privateKeyring = `
export XDG_DATA_HOME="$D/data" XDG_RUNTIME_DIR="$D/run"
mkdir -m 700 "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
PW=brokerd-private-keyring
eval "$SETUP"
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
  i=$((i+1)); [ "$i" -lt 100 ] || { echo "secret service did not come up" >&2; exit 1; }; sleep 0.05
done
eval "$AFTER"
"$@" 2>"$D/stderr" && echo "exit 0" || echo "exit $?"
`

// TestKeychainWithoutDefaultKeyring checks that a Secret Service without a
// default keyring (deleted in Seahorse, or never made) is reported as
// such, and a locked one as locked: both fail go-keyring's unlock alike.
func TestKeychainWithoutDefaultKeyring(t *testing.T) {
	const unlock = `printf '%s' "$PW" | gnome-keyring-daemon --unlock --components=secrets >/dev/null`
	const secrets = `dbus-send --session --print-reply --dest=org.freedesktop.secrets `
	tests := []struct {
		name, setup, after string
		want, not          string
	}{
		{"never made", `gnome-keyring-daemon --daemonize --components=secrets >/dev/null`, "",
			"has no default keyring", "locked"},
		{"deleted", unlock, secrets + `/org/freedesktop/secrets/collection/login org.freedesktop.Secret.Collection.Delete >/dev/null`,
			"has no default keyring", "locked"},
		{"locked", unlock, secrets + `/org/freedesktop/secrets org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null`,
			"keychain is locked", "no default keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := t.TempDir()
			for _, args := range [][]string{{"keys", "list"}, {"keys", "add", e.profile("dev")}} {
				vars := map[string]string{"D": d, "SETUP": tt.setup, "AFTER": tt.after}
				sh := append([]string{"--", "sh", "-c", privateKeyring, "sh", brokerdBin}, args...)
				out := e.mustExec(t, vars, randomKeys(t).stdin(), "dbus-run-session", sh...)
				stderr, err := os.ReadFile(filepath.Join(d, "stderr"))
				if err != nil {
					t.Fatal(err)
				}
				r := result{stderr: string(stderr), code: 1}
				if !strings.Contains(out, "exit 1") {
					t.Errorf("brokerd %s printed %q, want exit 1", strings.Join(args, " "), out)
				}
				wantOneLineError(t, r, tt.want)
				if strings.Contains(r.stderr, tt.not) {
					t.Errorf("brokerd %s: stderr = %q, want no %q in it", strings.Join(args, " "), r.stderr, tt.not)
				}
				os.RemoveAll(filepath.Join(d, "data"))
				os.RemoveAll(filepath.Join(d, "run"))
			}
		})
	}
}
