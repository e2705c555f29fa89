package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/tokens"
)

var _ control.Reissuer = (*containers)(nil)

// auditReissued is the audit log's event of a container token reissued:
// the line names the container (id, label), the process that asked (the
// brokerd command, through the control socket) and the profiles.
const auditReissued audit.Kind = "reissued"

// ReissueToken gives a container whose token file is gone a new token at
// the path its mount names, STATE/containers/ID/token, keeping ID (see
// tokens.Store.Reissue). It refuses any other path, follows no link
// inside the state directory (the directory is made again 0700 when
// gone, and the file 0600 as IssueToken makes it), and leaves alone a
// file that is there: that container has its token.
func (c *containers) ReissueToken(ctx context.Context, req control.ReissueRequest) (control.IssuedToken, error) {
	id, err := c.tokenDirOf(req.TokenFile)
	if err != nil {
		return control.IssuedToken{}, err
	}
	if len(req.Profiles) == 0 {
		return control.IssuedToken{}, fault.New(fault.InvalidInput, "name the profiles the container may fetch")
	}
	region := ""
	for i, name := range req.Profiles {
		if err := checkName(name); err != nil {
			return control.IssuedToken{}, err
		}
		r, err := c.svc.Resolve(ctx, name)
		if err != nil {
			return control.IssuedToken{}, err
		}
		if i == 0 {
			region = r.Region
		}
	}
	ttl, err := seconds("ttl_seconds", req.TTLSeconds)
	if err != nil {
		return control.IssuedToken{}, err
	}

	c.dirs.Lock()
	defer c.dirs.Unlock()
	c.removeForgotten()
	dir, err := c.openTokenDir(id)
	if err != nil {
		return control.IssuedToken{}, err
	}
	defer unix.Close(dir)
	var st unix.Stat_t
	switch err := unix.Fstatat(dir, "token", &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		return control.IssuedToken{}, fault.New(fault.InvalidInput, "%s is there: the container has its token file (if it is refused, make it again with brokerd docker run)", req.TokenFile)
	case !errors.Is(err, unix.ENOENT):
		return control.IssuedToken{}, fmt.Errorf("look at %s: %w", req.TokenFile, err)
	}
	secret, tok, err := c.tokens.Reissue(ctx, id, tokens.Request{Label: req.Label, Profiles: req.Profiles, TTL: ttl, ContainerID: req.ContainerID})
	if err != nil {
		return control.IssuedToken{}, err
	}
	fd, err := unix.Openat(dir, "token", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		c.tokens.Revoke(tok.ID)
		return control.IssuedToken{}, fmt.Errorf("write the token file %s: %w", req.TokenFile, err)
	}
	res := control.IssuedToken{ContainerToken: tokenView(tok), TokenFile: req.TokenFile, Region: region}
	res.Note, err = fillToken(os.NewFile(uintptr(fd), req.TokenFile), secret, req.ReaderUID)
	if err != nil {
		unix.Unlinkat(dir, "token", 0)
		c.tokens.Revoke(tok.ID)
		return control.IssuedToken{}, err
	}
	c.log.Info("container token reissued", zap.String("id", tok.ID), zap.String("label", tok.Label),
		zap.Strings("profiles", tok.Profiles), zap.String("container", tok.ContainerID), zap.Time("expires", tok.Expires))
	return res, nil
}

// tokenDirOf returns the token id that names the directory of path, a
// token file of the state directory, STATE/containers/ID/token; an
// InvalidInput error for any other path.
func (c *containers) tokenDirOf(path string) (string, error) {
	base := c.state.Join(ContainersDir)
	id := filepath.Base(filepath.Dir(path))
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || filepath.Dir(filepath.Dir(path)) != base ||
		filepath.Base(path) != "token" || !tokens.IsID(id) {
		return "", &fault.Error{Kind: fault.InvalidInput, Code: "NotATokenFile", Message: fmt.Sprintf(
			"%s is not a token file of brokerd's state directory (%s/ID/token): brokerd writes tokens there only; make the container again with brokerd docker run",
			path, base)}
	}
	return id, nil
}

// openTokenDir opens the directory of token id, making it (and the
// containers directory) 0700 when gone, without following a link: each
// is opened from its parent with O_NOFOLLOW, and must be this user's.
// Call with c.dirs held.
func (c *containers) openTokenDir(id string) (int, error) {
	state, err := unix.Open(c.state.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the state directory: %w", err)
	}
	defer unix.Close(state)
	parent, err := privateDirAt(state, ContainersDir, c.state.Join(ContainersDir))
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	return privateDirAt(parent, id, c.state.Join(filepath.Join(ContainersDir, id)))
}

// privateDirAt opens directory name of parent, made 0700 when missing;
// one that is a link, not a directory, or another user's is refused, and
// one of this user's is made 0700.
func privateDirAt(parent int, name, path string) (int, error) {
	if err := unix.Mkdirat(parent, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create %s: %w", path, err)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fault.New(fault.InvalidInput, "%s is a link or not a directory: brokerd follows no link in its state directory; remove it", path)
		}
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("look at %s: %w", path, err)
	}
	if int(st.Uid) != os.Geteuid() {
		unix.Close(fd)
		return -1, fault.New(fault.InvalidInput, "%s belongs to uid %d, not to brokerd's user: remove it", path, st.Uid)
	}
	if err := unix.Fchmod(fd, 0o700); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("make %s private: %w", path, err)
	}
	return fd, nil
}

// reissuedEvent is the audit log's line of t, reissued at the request of
// the process ctx names (the brokerd command, on the control socket).
func reissuedEvent(ctx context.Context, t tokens.Token) audit.Event {
	e := audit.Event{Kind: auditReissued, Profile: t.Default(), Expires: t.Expires, Status: 200,
		Container: &audit.Container{ID: t.ContainerID, Label: t.Label},
		Note:      "container token " + t.ID + " reissued by brokerd docker reissue, for " + strings.Join(t.Profiles, ", ")}
	if c, ok := control.CallerOf(ctx); ok {
		e.Client = &audit.Client{PID: c.PID, Exe: c.Exe, UID: c.UID}
	}
	return e
}
