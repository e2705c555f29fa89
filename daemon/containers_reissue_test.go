package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/tokens"
)

func newReissuer(t *testing.T) (*containers, *tokens.Store) {
	t.Helper()
	w := newWorld(t)
	store, err := tokens.Open(tokens.Config{File: w.state.Join(TokensFile)})
	if err != nil {
		t.Fatal(err)
	}
	return &containers{svc: newTestService(t, w, nil), tokens: store, state: w.state, log: zap.NewNop()}, store
}

// After a reboot emptied the state directory, a reissue writes a new token
// at the very path the container's mount names: 0600 in a 0700 directory
// made again, the token keeping the id its directory is named by and
// naming the container; the old token of that id is refused. A second
// reissue finds the file there and leaves it.
func TestContainers_Reissue(t *testing.T) {
	c, store := newReissuer(t)
	old, err := c.IssueToken(t.Context(), control.TokenRequest{Label: "web", Profiles: []string{"prod"}, CIDFile: true})
	if err != nil {
		t.Fatal(err)
	}
	oldSecret, _ := os.ReadFile(old.TokenFile)
	os.RemoveAll(c.state.Join(ContainersDir)) // the reboot

	cid := strings.Repeat("0f", 32)
	req := control.ReissueRequest{TokenFile: old.TokenFile, ContainerID: cid, Label: "web", Profiles: []string{"prod", "dev"}, TTLSeconds: 3600}
	tok, err := c.ReissueToken(t.Context(), req)
	if err != nil {
		t.Fatalf("ReissueToken = %v", err)
	}
	if tok.ID != old.ID || tok.TokenFile != old.TokenFile || tok.ContainerID != cid || strings.Join(tok.Profiles, ",") != "prod,dev" ||
		tok.Expires.Sub(tok.Created) != time.Hour {
		t.Errorf("ReissueToken = %+v; want id %s, file %s, container %s, prod,dev for an hour", tok, old.ID, old.TokenFile, cid)
	}
	secret, err := os.ReadFile(old.TokenFile)
	fi, _ := os.Stat(old.TokenFile)
	di, _ := os.Stat(filepath.Dir(old.TokenFile))
	if err != nil || !strings.HasPrefix(string(secret), tokens.Prefix) || string(secret) == string(oldSecret) ||
		fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("token file %q (%v), mode %v in a directory %v; want a new token, 0600 in 0700", secret, err, fi.Mode().Perm(), di.Mode().Perm())
	}
	if got, err := store.Check(string(secret)); err != nil || got.ID != old.ID || got.ContainerID != cid {
		t.Errorf("Check(reissued) = %+v, %v", got, err)
	}
	if _, err := store.Check(string(oldSecret)); err == nil {
		t.Errorf("the token lost with the state directory is accepted")
	}
	if _, err := c.ReissueToken(t.Context(), req); fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), "has its token file") {
		t.Errorf("ReissueToken with the file there = %v; want InvalidInput", err)
	}
	if again, _ := os.ReadFile(old.TokenFile); string(again) != string(secret) {
		t.Errorf("a refused reissue changed the token file")
	}
}

// Only a token file of the state directory is written: any other path
// is refused, and so is a link in the state directory, which is not
// followed.
func TestContainers_ReissueRefuses(t *testing.T) {
	c, store := newReissuer(t)
	base := c.state.Join(ContainersDir)
	outside := t.TempDir()
	for _, path := range []string{
		filepath.Join(outside, "containers", "c0123abcd", "token"),
		filepath.Join(outside, "token"),
		"containers/c0123abcd/token",
		base + "/c0123abcd/../c0123abce/token",
		base + "/c0123abcd/cid",
		base + "/c0123abcd/sub/token",
		base + "/tabc123/token",
		base + "/c0123abcd",
		c.state.Join("token"),
		"",
	} {
		_, err := c.ReissueToken(t.Context(), control.ReissueRequest{TokenFile: path, Label: "web", Profiles: []string{"prod"}})
		if fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), "is not a token file of brokerd's state directory") {
			t.Errorf("ReissueToken(%q) = %v; want InvalidInput: not a token file of the state directory", path, err)
		}
	}

	// A link where the directory of a token the store holds goes, and
	// where the containers directory goes: refused, nothing written where
	// they point. (A link named by no token held is removed with the
	// directories of forgotten tokens, and a directory made in its place.)
	if err := os.MkdirAll(base, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(base, "c0123abcd")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Reissue(t.Context(), "c0123abcd", tokens.Request{Label: "web", Profiles: []string{"prod"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.ReissueToken(t.Context(), control.ReissueRequest{TokenFile: base + "/c0123abcd/token", Label: "web", Profiles: []string{"prod"}})
	if err == nil || !strings.Contains(err.Error(), "is a link or not a directory") {
		t.Errorf("ReissueToken through a link = %v; want a refusal", err)
	}
	store.Revoke("")
	os.RemoveAll(base)
	if err := os.Symlink(outside, base); err != nil {
		t.Fatal(err)
	}
	_, err = c.ReissueToken(t.Context(), control.ReissueRequest{TokenFile: base + "/c0123abcd/token", Label: "web", Profiles: []string{"prod"}})
	if err == nil || !strings.Contains(err.Error(), "is a link or not a directory") {
		t.Errorf("ReissueToken with the containers directory a link = %v; want a refusal", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a reissue through a link wrote %v in the directory it points to", ents)
	}
	if l := store.List(); len(l) != 1 {
		t.Errorf("refused reissues made tokens %+v", l)
	}
	// An unknown profile is refused before any file.
	os.Remove(base)
	_, err = c.ReissueToken(t.Context(), control.ReissueRequest{TokenFile: base + "/c0123abcd/token", Label: "web", Profiles: []string{"nosuch"}})
	if err == nil {
		t.Errorf("ReissueToken for an unknown profile succeeded")
	}
	if _, err := os.Stat(base + "/c0123abcd/token"); err == nil {
		t.Errorf("a refused reissue wrote the token file")
	}
}

// The audit log's line of a reissue names the container, its label, the
// profiles and the process that asked, from the control socket.
func TestReissuedEvent(t *testing.T) {
	cid := strings.Repeat("0f", 32)
	tok := tokens.Token{ID: "c0123abcd", Label: "web", Profiles: []string{"prod", "dev"}, ContainerID: cid,
		Expires: time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC)}
	ctx := control.WithCaller(t.Context(), control.Caller{PID: 4242, UID: 1000, Exe: "/usr/local/bin/brokerd"})
	e := reissuedEvent(ctx, tok)
	if e.Kind != "reissued" || e.Profile != "prod" || e.Container == nil || e.Container.ID != cid || e.Container.Label != "web" ||
		e.Client == nil || e.Client.PID != 4242 || e.Client.Exe != "/usr/local/bin/brokerd" || e.Client.UID != 1000 ||
		!strings.Contains(e.Note, "c0123abcd reissued by brokerd docker reissue, for prod, dev") || !e.Expires.Equal(tok.Expires) {
		t.Errorf("reissuedEvent = %+v (container %+v, client %+v)", e, e.Container, e.Client)
	}
	if e := reissuedEvent(t.Context(), tok); e.Client != nil {
		t.Errorf("reissuedEvent without a caller names client %+v", e.Client)
	}
}
