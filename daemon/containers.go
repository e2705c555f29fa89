package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/audit"
	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/peer"
	"github.com/brokerd/brokerd/server"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/tokens"
)

// Files and directories of the containers' side in the state directory.
const (
	// RelayDir holds the relay socket alone, so that the relay container
	// mounts it and nothing else; a directory survives a restart of the
	// daemon, which replaces the socket in it.
	RelayDir = "relay"
	// TokensFile keeps the container tokens' digests across restarts.
	TokensFile = "containers.json"
	// ContainersDir holds a directory per container token: its token file
	// and the file docker run --cidfile writes.
	ContainersDir = "containers"
)

// containers answers the control API's container routes.
type containers struct {
	svc      *service
	tokens   *tokens.Store
	state    state.Dir
	auditDir string
	log      *zap.Logger
	// dirs orders the making and removing of token directories.
	dirs sync.Mutex
}

var _ control.Containers = (*containers)(nil)

// controlAPI is the control API: the service, the containers' routes, and a
// status that tells of both.
type controlAPI struct {
	*service
	*containers
}

func (a controlAPI) Status(ctx context.Context) (control.Status, error) {
	st, err := a.service.Status(ctx)
	for _, t := range a.tokens.List() {
		st.Containers = append(st.Containers, tokenView(t))
	}
	st.AuditDir = a.auditDir
	return st, err
}

func tokenView(t tokens.Token) control.ContainerToken {
	return control.ContainerToken{ID: t.ID, Label: t.Label, Profiles: t.Profiles, Created: t.Created, Expires: t.Expires,
		Revoked: timePtr(t.Revoked), LastUsed: timePtr(t.LastUsed), ContainerID: t.ContainerID}
}

// IssueToken checks that every profile resolves and is known (in the
// config file or the keychain), then makes the token and writes its file:
// 0600 in a 0700 directory of its own, or made readable to the container's
// user as ReaderUID says.
func (c *containers) IssueToken(ctx context.Context, req control.TokenRequest) (control.IssuedToken, error) {
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
	secret, tok, final, err := c.issue(req, ttl)
	if err != nil {
		return control.IssuedToken{}, err
	}
	cidfile := ""
	if req.CIDFile {
		cidfile = filepath.Join(final, "cid")
	}
	res := control.IssuedToken{ContainerToken: tokenView(tok), TokenFile: filepath.Join(final, "token"), CIDFile: cidfile, Region: region}
	res.Note, err = writeToken(res.TokenFile, secret, req.ReaderUID)
	if err != nil {
		os.RemoveAll(final)
		c.tokens.Revoke(tok.ID)
		return control.IssuedToken{}, err
	}
	c.log.Info("container token issued", zap.String("id", tok.ID), zap.String("label", tok.Label),
		zap.Strings("profiles", tok.Profiles), zap.Time("expires", tok.Expires))
	return res, nil
}

// issue makes the token and its directory, named by its id. It holds
// c.dirs from the removal of forgotten directories to the naming, so that
// no other call removes this directory before its token names it.
func (c *containers) issue(req control.TokenRequest, ttl time.Duration) (secret string, tok tokens.Token, final string, err error) {
	c.dirs.Lock()
	defer c.dirs.Unlock()
	c.removeForgotten()
	dir := c.state.Join(ContainersDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", tokens.Token{}, "", fmt.Errorf("create %s: %w", dir, err)
	}
	// The token's directory is named before the token exists: its id is
	// not known yet, so a random name it is.
	tdir, err := os.MkdirTemp(dir, "t")
	if err != nil {
		return "", tokens.Token{}, "", fmt.Errorf("create a token directory: %w", err)
	}
	cidfile := ""
	if req.CIDFile {
		cidfile = filepath.Join(tdir, "cid")
	}
	secret, tok, err = c.tokens.Issue(tokens.Request{Label: req.Label, Profiles: req.Profiles,
		TTL: ttl, CIDFile: cidfile})
	if err != nil {
		os.RemoveAll(tdir)
		return "", tokens.Token{}, "", err
	}
	final = filepath.Join(dir, tok.ID)
	if err := os.Rename(tdir, final); err != nil {
		os.RemoveAll(tdir)
		c.tokens.Revoke(tok.ID)
		return "", tokens.Token{}, "", fmt.Errorf("name the token directory: %w", err)
	}
	if cidfile != "" {
		c.tokens.SetCIDFile(tok.ID, filepath.Join(final, "cid"))
	}
	return secret, tok, final, nil
}

// writeToken writes the token file, with no newline (SDKs refuse one),
// readable as reader says: 0600 for this user (and root, and the root of a
// rootless engine); chowned to reader when this process may; else 0644,
// still private on the host through its 0700 directories.
func writeToken(path, secret string, reader int) (note string, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write the token file: %w", err)
	}
	return fillToken(f, secret, reader)
}

// fillToken writes secret to f, a token file just made 0600, makes it
// readable as writeToken says, and closes it.
func fillToken(f *os.File, secret string, reader int) (note string, err error) {
	if _, err := f.WriteString(secret); err != nil {
		f.Close()
		return "", fmt.Errorf("write the token file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			note, err = "", fmt.Errorf("write the token file: %w", cerr)
		}
	}()
	if reader == 0 || reader == os.Getuid() {
		return "", nil
	}
	if reader > 0 && f.Chown(reader, -1) == nil {
		return fmt.Sprintf("token file owned by uid %d, mode 0600", reader), nil
	}
	if err := f.Chmod(0o644); err != nil {
		return "", fmt.Errorf("make the token file readable to the container: %w", err)
	}
	return "token file mode 0644, for the container's user; it stays private on this machine inside a 0700 directory", nil
}

// RevokeTokens revokes tokens and removes their files.
func (c *containers) RevokeTokens(ctx context.Context, req control.RevokeRequest) ([]control.ContainerToken, error) {
	if req.Match == "" && !req.All {
		return nil, fault.New(fault.InvalidInput, "name the token to revoke (its id or label, see brokerd status), or revoke all with --all")
	}
	gone, err := c.tokens.Revoke(req.Match)
	var out []control.ContainerToken
	// The token files stay until the store forgets their tokens, a day
	// later: a container started again with a revoked token is then told
	// so, rather than docker failing on a missing file.
	for _, t := range gone {
		out = append(out, tokenView(t))
		c.log.Info("container token revoked", zap.String("id", t.ID), zap.String("label", t.Label))
	}
	c.dirs.Lock()
	c.removeForgotten()
	c.dirs.Unlock()
	return out, err
}

// removeForgotten removes the directories of tokens the store forgot.
// Call with c.dirs held.
func (c *containers) removeForgotten() {
	ents, err := os.ReadDir(c.state.Join(ContainersDir))
	if err != nil {
		return
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	for _, id := range c.tokens.Forgotten(ids) {
		os.RemoveAll(filepath.Join(c.state.Join(ContainersDir), id))
	}
}

// listenRelay listens on the relay socket, replacing a stale one; the
// caller holds the state directory's lock. The directory is 0700 and the
// socket 0600: the relay container runs as the daemon's user.
func listenRelay(dir state.Dir) (net.Listener, error) {
	rdir := dir.Join(RelayDir)
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return nil, fmt.Errorf("create the relay directory: %w", err)
	}
	if err := os.Chmod(rdir, 0o700); err != nil {
		return nil, fmt.Errorf("make the relay directory private: %w", err)
	}
	return listenUnix(filepath.Join(rdir, docker.SocketName), "relay socket")
}

// extras are the daemon's parts for containers and the audit log.
type extras struct {
	tokens   *tokens.Store
	auditLog *audit.Log    // nil when no audit log is written
	audit    *server.Audit // nil when no audit log is written
	relay    net.Listener  // nil when the relay socket could not be made
	closed   bool
	// reissues counts the reissued tokens written to the audit log.
	reissues atomic.Uint64
}

// reissued writes a token reissued to the audit log, if there is one.
func (x *extras) reissued(ctx context.Context, t tokens.Token) {
	if x.auditLog == nil {
		return
	}
	x.auditLog.Record(reissuedEvent(ctx, t))
	x.reissues.Add(1)
}

// openExtras opens the container tokens, the relay socket and the audit
// log. A relay socket that cannot be made is logged, not fatal: the
// loopback endpoint does not need it.
func openExtras(cfg Config, log *zap.Logger) (*extras, error) {
	x := &extras{}
	var err error
	x.tokens, err = tokens.Open(tokens.Config{File: cfg.State.Join(TokensFile), Clock: cfg.Clock, Reissued: x.reissued})
	if err != nil {
		return nil, err
	}
	if x.relay, err = listenRelay(cfg.State); err != nil {
		log.Warn("containers cannot reach brokerd through its relay socket", zap.Error(err))
	}
	if cfg.AuditDir != "" {
		if x.auditLog, err = audit.Open(cfg.AuditDir, audit.Config{Clock: cfg.Clock, Log: log.Named("audit")}); err != nil {
			if x.relay != nil {
				x.relay.Close()
			}
			fix := "fix it"
			if errors.Is(err, audit.ErrInUse) {
				fix = "stop that brokerd"
			}
			return nil, fmt.Errorf("%w (in %s): %s, or choose another directory with brokerd serve --audit-dir DIR", err, cfg.AuditDir, fix)
		}
		x.audit = server.NewAudit(x.auditLog, server.AuditConfig{Lookup: peer.New(peer.Config{}).LookupLimited, Clock: cfg.Clock})
	}
	return x, nil
}

// wrap makes srv tell the audit of its connections.
func (x *extras) wrap(srv *http.Server) {
	if x.audit != nil {
		srv.ConnContext = x.audit.ConnContext
	}
}

// run writes the audit's counts of repeated requests until ctx ends.
func (x *extras) run(ctx context.Context) {
	if x.audit != nil {
		x.audit.Run(ctx)
	}
}

// close writes what the audit holds and closes the audit log and the relay
// socket; call it once the servers have stopped. Later calls do nothing.
func (x *extras) close(log *zap.Logger) {
	if x.closed {
		return
	}
	x.closed = true
	if x.relay != nil {
		x.relay.Close()
	}
	if x.audit == nil {
		return
	}
	x.audit.Flush()
	issued, refused := x.audit.Counts()
	if err := x.auditLog.Close(); err != nil {
		log.Error("audit log not closed", zap.Error(err))
	}
	// issued counts the log's lines of issuances, as a reader summing the
	// lines that are not refusals finds them: credentials served, and
	// container tokens reissued (reissued, alone).
	reissued := x.reissues.Load()
	log.Info("audit log closed", zap.Uint64("issued", issued+reissued), zap.Uint64("reissued", reissued), zap.Uint64("refused", refused),
		zap.Uint64("dropped", x.auditLog.Dropped()))
}

// loopbackRelay is the handler of relay requests that come through the
// loopback endpoint, when cfg says to serve them; nil otherwise.
func (x *extras) loopbackRelay(cfg Config, c server.Credentials, token string, log *zap.Logger) http.Handler {
	if !cfg.LoopbackRelay {
		return nil
	}
	return server.NewRelay(c, server.RelayConfig{Tokens: x.tokens, MainToken: token, Log: log.Named("relay"),
		Clock: cfg.Clock, Audit: x.audit})
}
