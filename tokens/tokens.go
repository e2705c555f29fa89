// Package tokens provides container tokens: secrets that containers present
// to the relay, each with a label, the profiles it may fetch, an expiry, and
// a revocation. A Store keeps them in memory and, when given a file, keeps
// their descriptions and SHA-256 digests (never the secrets) across
// restarts; the secret itself goes only to the token file its caller writes.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/profile"
)

// Prefix starts every container token, so that a token sent to the wrong
// endpoint is recognised and the answer can say where it belongs. The
// endpoint's own token is 64 hex digits without it.
const Prefix = "bdc_"

// secretLen is the length of a token: Prefix and 64 hex digits (256 bits).
const secretLen = len(Prefix) + 64

// Limits of a token's lifetime.
const (
	MinTTL     = time.Second
	MaxTTL     = 7 * 24 * time.Hour
	DefaultTTL = 12 * time.Hour
)

// keep is how long a token is remembered after it expired or was revoked,
// so that its refusal says so rather than "unknown token".
const keep = 24 * time.Hour

// maxTokens bounds the tokens a store holds, expired and revoked included.
const maxTokens = 4096

// The refusals of Check; each is wrapped with a message that says what to do.
var (
	ErrMissing = errors.New("no container token")
	ErrUnknown = errors.New("unknown container token")
	ErrExpired = errors.New("container token expired")
	ErrRevoked = errors.New("container token revoked")
)

// Token describes a container token; it never holds the secret.
type Token struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Profiles []string  `json:"profiles"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Revoked  time.Time `json:"revoked,omitzero"`
	// CIDFile is the file where `docker run --cidfile` writes the id of the
	// container given the token; "" when the token was not made for one.
	CIDFile string `json:"cidfile,omitempty"`
	// ContainerID is that container's id, once read from CIDFile.
	ContainerID string `json:"container_id,omitempty"`
	// LastUsed is when the token last fetched credentials; zero if never
	// (since the daemon started: it is not kept across restarts).
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Allows reports whether the token may fetch profile's credentials: a
// fault.Forbidden error that names its profiles when not.
func (t Token) Allows(name string) error {
	if slices.Contains(t.Profiles, name) {
		return nil
	}
	return &fault.Error{Kind: fault.Forbidden, Code: "ProfileNotAllowed", Message: fmt.Sprintf(
		"container token %q may fetch %s only, not %q: start the container with a token for %s (brokerd docker run %s -- ...)",
		t.Label, strings.Join(t.Profiles, ", "), name, name, name)}
}

// Default is the profile served at /v1/credentials: the first one named.
func (t Token) Default() string { return t.Profiles[0] }

// Request describes a token to issue.
type Request struct {
	Label    string
	Profiles []string
	// TTL is the token's lifetime, MinTTL to MaxTTL; 0 means DefaultTTL.
	TTL time.Duration
	// CIDFile, when set, is where docker will write the container's id.
	CIDFile string
	// ContainerID, when set, is the id of the container the token is
	// for, known already (a reissue): 64 hex digits.
	ContainerID string
}

// Config configures a Store.
type Config struct {
	// File keeps the tokens' descriptions and digests across restarts,
	// mode 0600; "" keeps them in memory only.
	File string
	// Clock judges expiry; nil means the real clock.
	Clock clockwork.Clock
	// Reissued, when set, is told of each token Reissue makes, once it is
	// saved, with the context Reissue was given (the daemon writes it to
	// the audit log, naming who asked); nil tells no one.
	Reissued func(ctx context.Context, t Token)
}

// Store holds the container tokens. It is safe for concurrent use.
type Store struct {
	cfg Config

	mu     sync.Mutex
	byHash map[[32]byte]*entry
}

type entry struct {
	tok      Token // guarded by Store.mu, but for what the atomics hold
	lastUsed atomic.Int64
	cid      atomic.Pointer[string]
}

// record is a token in the store's file.
type record struct {
	Token
	SHA256 string `json:"sha256"`
}

type file struct {
	Tokens []record `json:"tokens"`
}

// Open returns a store holding the tokens kept in cfg.File, if any.
func Open(cfg Config) (*Store, error) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	s := &Store{cfg: cfg, byHash: map[[32]byte]*entry{}}
	if cfg.File == "" {
		return s, nil
	}
	b, err := os.ReadFile(cfg.File)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read container tokens: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("container tokens file %s is damaged (%v): remove it; the containers' tokens are then refused until they are started again", cfg.File, err)
	}
	for _, r := range f.Tokens {
		raw, err := hex.DecodeString(r.SHA256)
		if err != nil || len(raw) != sha256.Size || len(r.Profiles) == 0 {
			continue
		}
		e := &entry{tok: r.Token}
		e.tok.LastUsed = time.Time{}
		if r.ContainerID != "" {
			id := r.ContainerID
			e.cid.Store(&id)
		}
		s.byHash[[32]byte(raw)] = e
	}
	s.mu.Lock()
	s.purge()
	s.mu.Unlock()
	return s, nil
}

// labelShape is checked with a length (at most 64) apart: a counted
// repetition compiles to a program of that many copies.
var labelShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// CheckLabel reports why label cannot name a token.
func CheckLabel(label string) error {
	if len(label) > 64 || !labelShape.MatchString(label) {
		return fmt.Errorf("label %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", label)
	}
	return nil
}

// LabelFrom makes a label of a default one (a profile, image or container
// name), which may hold what a label cannot: such characters become '-',
// leading punctuation goes, and it is cut to 64 bytes. Its result passes
// CheckLabel.
func LabelFrom(name string) string {
	label := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_.-", r) {
			return r
		}
		return '-'
	}, name)
	label = strings.TrimLeft(label, "_.-")
	if label == "" {
		return "container"
	}
	return label[:min(len(label), 64)]
}

// Issue makes a token as req says; it returns the secret, which the store
// does not keep, and the token's description.
func (s *Store) Issue(req Request) (string, Token, error) {
	return s.issue(req, "")
}

// IsID reports whether id has the shape of a token id: c and 8 hex digits.
func IsID(id string) bool {
	if len(id) != 9 || id[0] != 'c' {
		return false
	}
	_, err := hex.DecodeString(id[1:])
	return err == nil && strings.ToLower(id) == id
}

// Reissue makes a token as Issue does, but with the id given, for a
// container whose token file is gone (the state directory was emptied by
// a reboot or a logout) while the container still names that file, whose
// directory the id names. A token the store holds with that id is
// replaced, unless it was revoked: a reissue does not undo a revocation
// (fault.InvalidInput). Config.Reissued is told of the token.
func (s *Store) Reissue(ctx context.Context, id string, req Request) (string, Token, error) {
	if !IsID(id) {
		return "", Token{}, fault.New(fault.InvalidInput, "%q is not a container token's id (c and 8 hex digits)", id)
	}
	secret, tok, err := s.issue(req, id)
	if err == nil && s.cfg.Reissued != nil {
		s.cfg.Reissued(ctx, tok)
	}
	return secret, tok, err
}

// issue makes the token req describes, with the id given, or a new one
// when id is "".
func (s *Store) issue(req Request, id string) (string, Token, error) {
	reissue := id != ""
	if err := CheckLabel(req.Label); err != nil {
		return "", Token{}, fault.New(fault.InvalidInput, "%v", err)
	}
	if len(req.Profiles) == 0 {
		return "", Token{}, fault.New(fault.InvalidInput, "name the profiles the container may fetch")
	}
	var profiles []string
	for _, p := range req.Profiles {
		if err := profile.CheckName(p); err != nil {
			return "", Token{}, &fault.Error{Kind: fault.InvalidInput, Code: "InvalidProfileName", Message: err.Error(), Err: err}
		}
		if !slices.Contains(profiles, p) {
			profiles = append(profiles, p)
		}
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return "", Token{}, fault.New(fault.InvalidInput, "token lifetime %v: choose between %v and %v (--ttl)", ttl, MinTTL, MaxTTL)
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret := Prefix + hex.EncodeToString(raw[:])
	if req.ContainerID != "" && !isContainerID(req.ContainerID) {
		return "", Token{}, fault.New(fault.InvalidInput, "container id %q: want 64 hex digits", req.ContainerID)
	}
	if id == "" {
		var idb [4]byte
		rand.Read(idb[:])
		id = "c" + hex.EncodeToString(idb[:])
	}
	now := s.cfg.Clock.Now().UTC().Round(0)
	tok := Token{ID: id, Label: req.Label, Profiles: profiles,
		Created: now, Expires: now.Add(ttl), CIDFile: req.CIDFile, ContainerID: req.ContainerID}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge()
	var replaced *entry
	var replacedHash [32]byte
	for h, e := range s.byHash {
		if e.tok.ID != tok.ID {
			continue
		}
		if !reissue {
			return "", Token{}, fault.New(fault.Internal, "token id %s drawn twice: try again", tok.ID)
		}
		if !e.tok.Revoked.IsZero() {
			return "", Token{}, fault.New(fault.InvalidInput, "container token %s (label %s) was revoked at %s: a reissue does not undo a revocation; make the container again with brokerd docker run",
				tok.ID, e.tok.Label, e.tok.Revoked.Format(time.RFC3339))
		}
		replaced, replacedHash = e, h
	}
	if replaced == nil && len(s.byHash) >= maxTokens {
		return "", Token{}, fault.New(fault.InvalidInput, "brokerd holds %d container tokens: revoke some (brokerd docker revoke --all)", len(s.byHash))
	}
	if replaced != nil {
		delete(s.byHash, replacedHash)
	}
	e := &entry{tok: tok}
	if req.ContainerID != "" {
		cid := req.ContainerID
		e.cid.Store(&cid)
	}
	s.byHash[sha256.Sum256([]byte(secret))] = e
	if err := s.save(); err != nil {
		delete(s.byHash, sha256.Sum256([]byte(secret)))
		if replaced != nil {
			s.byHash[replacedHash] = replaced
		}
		return "", Token{}, err
	}
	return secret, tok, nil
}

// Check finds the token whose secret is given and reports whether it may be
// used now: ErrMissing, ErrUnknown, ErrExpired or ErrRevoked (wrapped, with
// a message saying what to do) when not. The token is returned with
// ErrExpired and ErrRevoked too, to name who was refused. Check marks a
// valid token used; see Token.Allows for its profiles.
func (s *Store) Check(secret string) (Token, error) {
	if secret == "" {
		return Token{}, fmt.Errorf("%w: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to the token file brokerd docker run mounts", ErrMissing)
	}
	if len(secret) != secretLen || !strings.HasPrefix(secret, Prefix) {
		return Token{}, fmt.Errorf("%w: this is not a container token; start the container with brokerd docker run, or mount the token file that brokerd docker token prints", ErrUnknown)
	}
	h := sha256.Sum256([]byte(secret))
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	e, ok := s.byHash[h]
	var tok Token
	if ok {
		tok = e.tok
		ok = !forgotten(tok, now)
	}
	s.mu.Unlock()
	if !ok {
		return Token{}, fmt.Errorf("%w: brokerd never issued it or has forgotten it (it ended over a day ago, or brokerd lost its record: a reboot or a logout empties the state directory, or containers.json was removed); start the container again with brokerd docker run", ErrUnknown)
	}
	tok.ContainerID = e.containerID(tok.CIDFile)
	if lu := e.lastUsed.Load(); lu != 0 {
		tok.LastUsed = time.Unix(0, lu).UTC()
	}
	switch {
	case !tok.Revoked.IsZero():
		return tok, fmt.Errorf("%w: container token %q (%s) was revoked at %s; start the container again with a new token", ErrRevoked, tok.Label, tok.ID, tok.Revoked.Format(time.RFC3339))
	case !now.Before(tok.Expires):
		return tok, fmt.Errorf("%w: container token %q (%s) expired at %s; start the container again with a new token (brokerd docker run --ttl sets the lifetime)", ErrExpired, tok.Label, tok.ID, tok.Expires.Format(time.RFC3339))
	}
	e.lastUsed.Store(now.UnixNano())
	tok.LastUsed = now.UTC()
	return tok, nil
}

// containerID returns the container id read from cidfile, reading it until
// docker has written it.
func (e *entry) containerID(cidfile string) string {
	if p := e.cid.Load(); p != nil {
		return *p
	}
	if cidfile == "" {
		return ""
	}
	b, err := os.ReadFile(cidfile)
	id := strings.TrimSpace(string(b))
	if err != nil || !isContainerID(id) {
		return ""
	}
	e.cid.Store(&id)
	return id
}

// isContainerID reports whether id is a full container id: 64 hex digits.
func isContainerID(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// SetCIDFile sets the file where docker writes the container id of token
// id, for a caller who learns where it is once the token is made.
func (s *Store) SetCIDFile(id, cidfile string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.byHash {
		if e.tok.ID == id {
			e.tok.CIDFile = cidfile
			return s.save()
		}
	}
	return fmt.Errorf("no container token %s", id)
}

// Revoke revokes the live tokens whose id or label is match, or every live
// token when match is "", and returns them. fault.NotFound when none is.
func (s *Store) Revoke(match string) ([]Token, error) {
	now := s.cfg.Clock.Now().UTC().Round(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Token
	for _, e := range s.byHash {
		t := &e.tok
		if !t.Revoked.IsZero() || !now.Before(t.Expires) || (match != "" && t.ID != match && t.Label != match) {
			continue
		}
		t.Revoked = now
		out = append(out, s.view(e))
	}
	if len(out) == 0 {
		if match == "" {
			return nil, nil
		}
		return nil, &fault.Error{Kind: fault.NotFound, Code: "TokenNotFound", Message: fmt.Sprintf("no live container token has id or label %q: see brokerd status", match)}
	}
	sortTokens(out)
	return out, s.save()
}

// List returns the tokens, expired and revoked ones of the last day too,
// oldest first.
func (s *Store) List() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge()
	out := make([]Token, 0, len(s.byHash))
	for _, e := range s.byHash {
		out = append(out, s.view(e))
	}
	sortTokens(out)
	return out
}

// Forgotten returns the ids of the tokens the store no longer holds among
// ids, so that their files can be removed.
func (s *Store) Forgotten(ids []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge()
	held := map[string]bool{}
	for _, e := range s.byHash {
		held[e.tok.ID] = true
	}
	var out []string
	for _, id := range ids {
		if !held[id] {
			out = append(out, id)
		}
	}
	return out
}

func sortTokens(ts []Token) {
	slices.SortFunc(ts, func(a, b Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// view is e's token with what its atomics hold. Call with s.mu.
func (s *Store) view(e *entry) Token {
	t := e.tok
	t.Profiles = slices.Clone(t.Profiles)
	if p := e.cid.Load(); p != nil {
		t.ContainerID = *p
	}
	if lu := e.lastUsed.Load(); lu != 0 {
		t.LastUsed = time.Unix(0, lu).UTC()
	}
	return t
}

// purge forgets the tokens expired or revoked more than a day ago. Call
// with s.mu.
func (s *Store) purge() {
	now := s.cfg.Clock.Now()
	for h, e := range s.byHash {
		if forgotten(e.tok, now) {
			delete(s.byHash, h)
		}
	}
}

// forgotten reports whether t ended, by expiry or revocation, more than a
// day before now.
func forgotten(t Token, now time.Time) bool {
	end := t.Expires
	if !t.Revoked.IsZero() && t.Revoked.Before(end) {
		end = t.Revoked
	}
	return now.Sub(end) > keep
}

// save writes the tokens' file, if the store has one. Call with s.mu.
func (s *Store) save() error {
	if s.cfg.File == "" {
		return nil
	}
	var f file
	for h, e := range s.byHash {
		t := s.view(e)
		t.LastUsed = time.Time{}
		f.Tokens = append(f.Tokens, record{Token: t, SHA256: hex.EncodeToString(h[:])})
	}
	slices.SortFunc(f.Tokens, func(a, b record) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(s.cfg.File, b)
}

// writeFile replaces name with data, mode 0600, atomically.
func writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("save container tokens: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("save container tokens: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save container tokens: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save container tokens: %w", err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("save container tokens: %w", err)
	}
	return nil
}
