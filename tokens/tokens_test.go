package tokens_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/tokens"
)

func open(t *testing.T, file string) (*tokens.Store, *clockwork.FakeClock) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	s, err := tokens.Open(tokens.Config{File: file, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return s, clock
}

func issue(t *testing.T, s *tokens.Store, label string, ttl time.Duration, profiles ...string) (string, tokens.Token) {
	t.Helper()
	secret, tok, err := s.Issue(tokens.Request{Label: label, Profiles: profiles, TTL: ttl})
	if err != nil {
		t.Fatalf("Issue(%s, %v) = %v", label, profiles, err)
	}
	return secret, tok
}

func TestStore_CheckAndScope(t *testing.T) {
	s, clock := open(t, "")
	secret, tok := issue(t, s, "web", time.Hour, "prod", "dev", "prod")
	if !strings.HasPrefix(secret, tokens.Prefix) || len(secret) != len(tokens.Prefix)+64 || strings.ContainsAny(secret, "\r\n") {
		t.Fatalf("secret %q: want %s and 64 hex digits", secret, tokens.Prefix)
	}
	if got := strings.Join(tok.Profiles, ","); got != "prod,dev" || tok.Default() != "prod" {
		t.Errorf("profiles %q default %q, want prod,dev and prod", got, tok.Default())
	}
	clock.Advance(time.Minute)
	got, err := s.Check(secret)
	if err != nil || got.ID != tok.ID || got.Label != "web" || !got.LastUsed.Equal(clock.Now()) {
		t.Fatalf("Check = %+v, %v; want token %s used now", got, err, tok.ID)
	}
	if err := got.Allows("dev"); err != nil {
		t.Errorf("Allows(dev) = %v", err)
	}
	err = got.Allows("admin")
	if fault.KindOf(err) != fault.Forbidden || !strings.Contains(err.Error(), `"admin"`) || !strings.Contains(err.Error(), "prod, dev") {
		t.Errorf("Allows(admin) = %v, want Forbidden naming admin and the token's profiles", err)
	}
	if l := s.List(); len(l) != 1 || l[0].LastUsed.IsZero() {
		t.Errorf("List = %+v, want the token with its last use", l)
	}
}

func TestStore_Refusals(t *testing.T) {
	s, clock := open(t, "")
	live, _ := issue(t, s, "live", time.Hour, "prod")
	short, _ := issue(t, s, "short", time.Second, "prod")
	revoked, tok := issue(t, s, "gone", time.Hour, "prod")
	if out, err := s.Revoke("gone"); err != nil || len(out) != 1 || out[0].ID != tok.ID {
		t.Fatalf("Revoke(gone) = %+v, %v", out, err)
	}
	clock.Advance(2 * time.Second)
	tests := []struct {
		name, secret string
		want         error
		label        string
	}{
		{"live", live, nil, "live"},
		{"expired", short, tokens.ErrExpired, "short"},
		{"revoked", revoked, tokens.ErrRevoked, "gone"},
		{"missing", "", tokens.ErrMissing, ""},
		{"main token", strings.Repeat("ab", 32), tokens.ErrUnknown, ""},
		{"never issued", tokens.Prefix + strings.Repeat("0", 64), tokens.ErrUnknown, ""},
	}
	for _, tt := range tests {
		got, err := s.Check(tt.secret)
		if !errors.Is(err, tt.want) || got.Label != tt.label {
			t.Errorf("%s: Check = %q, %v; want %q, %v", tt.name, got.Label, err, tt.label, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), tt.secret) && tt.secret != "") {
			t.Errorf("%s: the error %q shows the token", tt.name, err)
		}
	}
	if _, err := s.Revoke("nosuch"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("Revoke(nosuch) = %v, want NotFound", err)
	}
	// A day after they ended, tokens are forgotten.
	clock.Advance(25 * time.Hour)
	if _, err := s.Check(revoked); !errors.Is(err, tokens.ErrUnknown) {
		t.Errorf("a day later, Check(revoked) = %v, want ErrUnknown", err)
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("a day later, List = %+v, want none", l)
	}
}

func TestStore_IssueRefuses(t *testing.T) {
	s, _ := open(t, "")
	tests := []struct {
		name string
		req  tokens.Request
		want string
	}{
		{"bad label", tokens.Request{Label: "a b", Profiles: []string{"p"}}, "label"},
		{"label too long", tokens.Request{Label: strings.Repeat("a", 65), Profiles: []string{"p"}}, "label"},
		{"no profile", tokens.Request{Label: "a", Profiles: nil}, "name the profiles"},
		{"bad profile", tokens.Request{Label: "a", Profiles: []string{"a\x00b"}}, ""},
		{"too long", tokens.Request{Label: "a", Profiles: []string{"p"}, TTL: 8 * 24 * time.Hour}, "--ttl"},
	}
	for _, tt := range tests {
		_, _, err := s.Issue(tt.req)
		if fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Issue = %v, want InvalidInput saying %q", tt.name, err, tt.want)
		}
	}
}

// The file keeps what a restart needs, digests and not secrets, 0600.
func TestStore_File(t *testing.T) {
	file := filepath.Join(t.TempDir(), "containers.json")
	s, clock := open(t, file)
	secret, tok := issue(t, s, "web", time.Hour, "prod")
	revoked, _ := issue(t, s, "old", time.Hour, "prod")
	s.Revoke("old")
	cid := filepath.Join(t.TempDir(), "cid")
	if err := s.SetCIDFile(tok.ID, cid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{secret, revoked} {
		if strings.Contains(string(b), sec) || strings.Contains(string(b), sec[len(tokens.Prefix):len(tokens.Prefix)+20]) {
			t.Fatalf("the tokens file holds a secret:\n%s", b)
		}
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("tokens file mode %v, want 0600", fi.Mode().Perm())
	}

	again, err := tokens.Open(tokens.Config{File: file, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	os.WriteFile(cid, []byte(id+"\n"), 0o600)
	got, err := again.Check(secret)
	if err != nil || got.ID != tok.ID || got.ContainerID != id {
		t.Errorf("after a restart, Check = %+v, %v; want %s in container %s", got, err, tok.ID, id)
	}
	if _, err := again.Check(revoked); !errors.Is(err, tokens.ErrRevoked) {
		t.Errorf("after a restart, Check(revoked) = %v, want ErrRevoked", err)
	}

	os.WriteFile(file, []byte("{"), 0o600)
	if _, err := tokens.Open(tokens.Config{File: file}); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("Open(damaged file) = %v, want an error saying to remove it", err)
	}
}

// A reboot empties the state directory, containers.json with it: a
// container that kept its token (docker run --token-env, in its
// environment) is refused with a message that says why and what to do.
func TestStore_AfterReboot(t *testing.T) {
	dir := t.TempDir()
	s, clock := open(t, filepath.Join(dir, "containers.json"))
	secret, _ := issue(t, s, "web", time.Hour, "prod")
	os.RemoveAll(dir)
	again, err := tokens.Open(tokens.Config{File: filepath.Join(dir, "containers.json"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = again.Check(secret)
	if !errors.Is(err, tokens.ErrUnknown) || !strings.Contains(err.Error(), "a reboot or a logout empties the state directory") ||
		!strings.Contains(err.Error(), "start the container again with brokerd docker run") {
		t.Errorf("after a reboot, Check = %v; want ErrUnknown saying a reboot loses the record, and what to do", err)
	}
}

func TestStore_Forgotten(t *testing.T) {
	s, clock := open(t, "")
	_, a := issue(t, s, "a", time.Hour, "p")
	_, b := issue(t, s, "b", time.Minute, "p")
	clock.Advance(26 * time.Hour)
	_, c := issue(t, s, "c", time.Hour, "p")
	got := s.Forgotten([]string{a.ID, b.ID, c.ID, "stray"})
	if strings.Join(got, ",") != strings.Join([]string{a.ID, b.ID, "stray"}, ",") {
		t.Errorf("Forgotten = %v, want %s, %s and stray", got, a.ID, b.ID)
	}
}

// FuzzLabelFrom checks that a label made of any name passes CheckLabel.
func FuzzLabelFrom(f *testing.F) {
	for _, s := range []string{"prod", "team@prod", ".hidden", "日本", "", strings.Repeat("a", 80), "my/app:1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if label := tokens.LabelFrom(name); tokens.CheckLabel(label) != nil {
			t.Errorf("LabelFrom(%q) = %q, which CheckLabel refuses: %v", name, label, tokens.CheckLabel(label))
		}
	})
}

// A reissue gives a container whose token file was lost a token with the
// id its file's directory is named by: it replaces a token the store
// still holds with that id (the old secret is then refused), never a
// revoked one, records the container, is told to Config.Reissued, and
// is kept across a restart.
func TestStore_Reissue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "containers.json")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	type key struct{}
	var told []string
	s, err := tokens.Open(tokens.Config{File: file, Clock: clock, Reissued: func(ctx context.Context, t tokens.Token) {
		told = append(told, fmt.Sprint(ctx.Value(key{}), " ", t.ID, " ", t.Label, " ", t.ContainerID))
	}})
	if err != nil {
		t.Fatal(err)
	}
	cid := strings.Repeat("ab", 32)
	ctx := context.WithValue(t.Context(), key{}, "cli")

	// Lost with the state directory: the store does not hold the id.
	secret, tok, err := s.Reissue(ctx, "c0123abcd", tokens.Request{Label: "web", Profiles: []string{"prod", "dev"}, TTL: time.Hour, ContainerID: cid})
	if err != nil || tok.ID != "c0123abcd" || tok.ContainerID != cid || !tok.Expires.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("Reissue = %+v, %v; want token c0123abcd for the container, an hour", tok, err)
	}
	if got, err := s.Check(secret); err != nil || got.ID != "c0123abcd" || got.ContainerID != cid || got.Default() != "prod" {
		t.Errorf("Check(reissued) = %+v, %v", got, err)
	}
	if want := []string{"cli c0123abcd web " + cid}; !reflect.DeepEqual(told, want) {
		t.Errorf("Reissued told %q, want %q", told, want)
	}

	// Held still: replaced, the old secret refused.
	again, _, err := s.Reissue(ctx, "c0123abcd", tokens.Request{Label: "web", Profiles: []string{"prod"}})
	if err != nil {
		t.Fatalf("Reissue of a held id = %v", err)
	}
	if _, err := s.Check(secret); !errors.Is(err, tokens.ErrUnknown) {
		t.Errorf("Check(replaced secret) = %v, want ErrUnknown", err)
	}
	if n := len(s.List()); n != 1 {
		t.Errorf("List holds %d tokens after a reissue of the same id, want 1", n)
	}
	reopened, err := tokens.Open(tokens.Config{File: file, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reopened.Check(again); err != nil || got.ContainerID != cid && got.ContainerID != "" {
		t.Errorf("after a restart, Check(reissued) = %+v, %v", got, err)
	}

	// Revoked: refused.
	if _, err := s.Revoke("c0123abcd"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reissue(ctx, "c0123abcd", tokens.Request{Label: "web", Profiles: []string{"prod"}}); fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), "does not undo a revocation") {
		t.Errorf("Reissue of a revoked id = %v, want InvalidInput: no undoing a revocation", err)
	}

	for _, bad := range []string{"", "c0123", "../c0123abc", "C0123ABCD", "x0123abcd", "c0123abcg"} {
		if _, _, err := s.Reissue(ctx, bad, tokens.Request{Label: "web", Profiles: []string{"prod"}}); fault.KindOf(err) != fault.InvalidInput {
			t.Errorf("Reissue(%q) = %v, want InvalidInput", bad, err)
		}
	}
	if _, _, err := s.Reissue(ctx, "c99999999", tokens.Request{Label: "web", Profiles: []string{"prod"}, ContainerID: "web"}); fault.KindOf(err) != fault.InvalidInput {
		t.Errorf("Reissue with container id %q = %v, want InvalidInput", "web", err)
	}
	if len(told) != 2 {
		t.Errorf("Reissued told of %d tokens, want the 2 made", len(told))
	}
}
