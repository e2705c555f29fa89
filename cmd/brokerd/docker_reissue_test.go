package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/docker"
)

// fakeReissuer notes the requests and answers with a token, or err.
type fakeReissuer struct {
	got []control.ReissueRequest
	err error
}

func (f *fakeReissuer) ReissueToken(_ context.Context, req control.ReissueRequest) (control.IssuedToken, error) {
	f.got = append(f.got, req)
	if f.err != nil {
		return control.IssuedToken{}, f.err
	}
	return control.IssuedToken{ContainerToken: control.ContainerToken{ID: "c0123abcd", Label: req.Label, Profiles: req.Profiles,
		Expires: time.Now().Add(time.Hour)}, TokenFile: req.TokenFile}, nil
}

var _ reissuer = (*fakeReissuer)(nil)

// reissue asks for the profiles, label and lifetime the container's label
// records, else its URL's profile alone with a note; a --token-env
// container gets one line with the command that makes it again, as do
// those it cannot help; no token is printed, nor any variable but the
// URL's profile.
func TestReissue(t *testing.T) {
	cid := strings.Repeat("ab", 32)
	file := filepath.Join(t.TempDir(), "containers", "c0123abcd", "token")
	scope := &docker.Scope{ID: "c0123abcd", Label: "web", Profiles: []string{"prod", "dev"}, TTLSeconds: 3600}
	cs := []docker.Container{
		{ID: cid, Name: "web", Restart: "always", Profile: "prod", TokenFile: file, Gone: true, Scope: scope},
		{ID: cid, Name: "old_one", Restart: "unless-stopped", Profile: "prod", TokenFile: file, Gone: true, User: "1001"},
		{ID: cid, Name: "envy", Restart: "always", Profile: "prod", TokenEnv: true, Scope: scope},
		{ID: cid, Name: "fine", Restart: "always", Profile: "prod", TokenFile: file},
		{ID: cid, Name: "plain", TokenFile: ""},
		{ID: cid, Name: "nourl", Restart: "always", TokenFile: file, Gone: true},
		{ID: cid, Name: "busy", Restart: "always", Profile: "prod", TokenFile: file, Gone: true, Running: true, Scope: scope},
	}
	d := &fakeReissuer{}
	var out, errw bytes.Buffer
	failed := reissue(t.Context(), imageUser(""), d, cs, 1000, &out, &errw)
	if failed != 3 {
		t.Errorf("reissue failed for %d containers, want 3 (envy, plain, nourl)", failed)
	}
	want := []control.ReissueRequest{
		{TokenFile: file, ContainerID: cid, Label: "web", Profiles: []string{"prod", "dev"}, TTLSeconds: 3600},
		{TokenFile: file, ContainerID: cid, Label: "old_one", Profiles: []string{"prod"}, ReaderUID: 1001},
		{TokenFile: file, ContainerID: cid, Label: "web", Profiles: []string{"prod", "dev"}, TTLSeconds: 3600},
	}
	if !reflect.DeepEqual(d.got, want) {
		t.Errorf("requests %+v\nwant %+v", d.got, want)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(cs) {
		t.Fatalf("reissue wrote %d lines, want one a container:\n%s", len(lines), out.String())
	}
	for i, want := range []string{
		"container web: new token c0123abcd (label web) for prod, dev, until ",
		"container old_one: new token c0123abcd (label old_one) for prod, until ",
		"container envy holds its token in its environment, which cannot be changed in place: make it again: docker rm -f envy, then brokerd docker run prod --also dev --label web --ttl 1h0m0s --token-env -- --restart always --name envy [your other options] IMAGE",
		"container fine has its token file: nothing to do",
		"container plain has no token of brokerd's",
		"container nourl names no profile in its credentials URL: make it again: docker rm -f nourl, then brokerd docker run PROFILE --",
		"container busy: new token c0123abcd (label web) for prod, dev, until ",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want %q…", i, lines[i], want)
		}
	}
	if !strings.HasSuffix(lines[0], "; start it: docker start web") || !strings.HasSuffix(lines[6], "docker restart busy") {
		t.Errorf("lines %q and %q: want docker start, and docker restart for a running one", lines[0], lines[6])
	}
	if e := errw.String(); strings.Count(e, "\n") != 1 || !strings.Contains(e, "container old_one gets profile prod alone") ||
		!strings.Contains(e, "no label io.brokerd.reissue") {
		t.Errorf("notes %q, want one for old_one, which has no label", e)
	}

	// The daemon's refusal is the container's line.
	d = &fakeReissuer{err: errors.New("/x/token is not a token file of brokerd's state directory")}
	out.Reset()
	if failed := reissue(t.Context(), imageUser(""), d, cs[:1], 1000, &out, &errw); failed != 1 ||
		out.String() != "container web: /x/token is not a token file of brokerd's state directory\n" {
		t.Errorf("reissue refused = %d, %q", failed, out.String())
	}
}
