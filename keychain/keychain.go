// Package keychain provides brokerd's items in the OS keychain: long-term
// IAM user keys and MFA sessions, stored through go-keyring.
package keychain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/zalando/go-keyring"
	"golang.org/x/sync/singleflight"
)

// Service is the keychain service name under which long-term keys are stored.
const Service = "brokerd"

// indexUser names the item that lists the profiles with keys; go-keyring
// cannot enumerate items itself. It is not a valid profile name.
const indexUser = "_profiles"

var (
	// ErrNotFound means the keychain has no such item.
	ErrNotFound = errors.New("not found in keychain")
	// ErrLocked means the keychain exists but is locked.
	ErrLocked = errors.New("keychain is locked: unlock your login keychain (log in to the desktop session) and try again")
	// ErrUnavailable means no keychain service answered, or no session
	// bus did (then the message names DBUS_SESSION_BUS_ADDRESS).
	ErrUnavailable = errors.New("no keychain service is reachable: on Linux start a Secret Service (gnome-keyring or KeePassXC) in your session")
	// ErrTimeout means the keychain did not answer in time, for example
	// while an unlock prompt is open.
	ErrTimeout = errors.New("keychain did not answer in time: is an unlock prompt waiting?")
	// ErrFormat means an item is not in brokerd's format: damaged, or
	// written by another program. Storing it again replaces it.
	ErrFormat = errors.New("not brokerd's format")
)

// Backend is the part of go-keyring the store uses.
type Backend interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// System is the OS keychain through go-keyring.
type System struct{}

var _ Backend = System{}

func (System) Get(service, user string) (string, error) {
	v, err := keyring.Get(service, user)
	return v, explain(err, defaultKeyring)
}

func (System) Set(service, user, secret string) error {
	return explain(keyring.Set(service, user, secret), defaultKeyring)
}

func (System) Delete(service, user string) error {
	return explain(keyring.Delete(service, user), defaultKeyring)
}

// Store reads and writes brokerd's keychain items.
type Store struct {
	backend Backend
	// Timeout bounds every keychain call; go-keyring calls can block forever.
	Timeout time.Duration
	// LockFile is locked around each update of the profile list, so that
	// brokerd commands run at once do not lose each other's entries; empty
	// means no lock across processes.
	LockFile string
	// Clock tells the time and arms the timeouts; nil means the real clock.
	Clock clockwork.Clock

	mu sync.Mutex // serialises updates of the profile list in this process
	// reads shares a read of an item among the callers that want it while
	// it runs: a keychain blocked on an unlock prompt would otherwise
	// gather a goroutine (and maybe a prompt) per request.
	reads singleflight.Group
	// readsStarted holds when the read under way of each item began, so
	// that one that never returns is given up after abandonRead.
	readsMu      sync.Mutex
	readsStarted map[string]time.Time
	// writes holds, by item, the end of the last write of it begun: a
	// write runs once the one before it ended, even one its caller gave
	// up on, so that a delete is not overtaken by a set abandoned before
	// it (behind an unlock prompt) that the keychain carries out later;
	// but not after abandonRead, as a read.
	writesMu sync.Mutex
	writes   map[string]chan struct{}
}

// abandonRead is how long reads of an item wait on a read under way that
// has not returned, before a new one asks the keychain again.
const abandonRead = time.Minute

// New returns a Store over backend with a 5 s timeout per call.
func New(backend Backend) *Store {
	return &Store{backend: backend, Timeout: 5 * time.Second, Clock: clockwork.NewRealClock()}
}

func (s *Store) clock() clockwork.Clock {
	if s.Clock == nil {
		return clockwork.NewRealClock()
	}
	return s.Clock
}

// Keys returns the long-term keys stored for profile. It returns an error
// wrapping ErrNotFound when there are none.
func (s *Store) Keys(ctx context.Context, profile string) (Keys, error) {
	var k Keys
	if err := s.getJSON(ctx, Service, profile, &k); err != nil {
		return Keys{}, fmt.Errorf("read keys of profile %q: %w", profile, err)
	}
	return k, nil
}

// AddKeys validates k and stores it for profile, replacing any keys it had.
func (s *Store) AddKeys(ctx context.Context, profile string, k Keys) error {
	if err := ValidProfile(profile); err != nil {
		return err
	}
	if err := k.Validate(); err != nil {
		return err
	}
	store := func() error {
		if err := s.setJSON(ctx, Service, profile, k); err != nil {
			return fmt.Errorf("store keys of profile %q: %w", profile, err)
		}
		return nil
	}
	return s.updateIndex(ctx, store, func(names []string) []string {
		if !slices.Contains(names, profile) {
			names = append(names, profile)
		}
		return names
	})
}

// RemoveKeys deletes the keys of profile, and the MFA session they
// opened, which would otherwise serve on without them. It returns an error
// wrapping ErrNotFound when there were no keys.
func (s *Store) RemoveKeys(ctx context.Context, profile string) error {
	if err := ValidProfile(profile); err != nil {
		return err
	}
	var err error // ErrNotFound: the keys were gone, and the list is mended
	remove := func() error {
		err = s.write(ctx, Service, profile, func() error { return s.backend.Delete(Service, profile) })
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("remove keys of profile %q: %w", profile, err)
		}
		return nil
	}
	if ierr := s.updateIndex(ctx, remove, func(names []string) []string {
		return slices.DeleteFunc(names, func(n string) bool { return n == profile })
	}); ierr != nil {
		return ierr
	}
	serr := s.DeleteSession(ctx, profile)
	if err != nil {
		return fmt.Errorf("remove keys of profile %q: %w", profile, err)
	}
	return serr
}

// Profiles lists the profiles that have keys, sorted.
func (s *Store) Profiles(ctx context.Context) ([]string, error) {
	var names []string
	err := s.getJSON(ctx, Service, indexUser, &names)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profile list: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// updateIndex runs write, the change of an item, then changes the list of
// profiles with change, all under the lock: a lock not to be had leaves
// both as they were.
func (s *Store) updateIndex(ctx context.Context, write func() error, change func([]string) []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.LockFile != "" {
		f, err := s.lockFile(s.LockFile)
		if err != nil {
			return fmt.Errorf("update profile list: %w", err)
		}
		defer f.Close()
	}
	if err := write(); err != nil {
		return err
	}
	// Read the list anew: a read under way may have begun before another
	// process changed it.
	s.reads.Forget(item(Service, indexUser))
	names, err := s.Profiles(ctx)
	if err != nil {
		return err
	}
	if err := s.setJSON(ctx, Service, indexUser, change(names)); err != nil {
		return fmt.Errorf("update profile list: %w", err)
	}
	return nil
}

func (s *Store) getJSON(ctx context.Context, service, user string, v any) error {
	secret, err := s.get(ctx, service, user)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(secret), v); err != nil {
		// The item's text may be a secret: do not quote it.
		return fmt.Errorf("keychain item %s/%s is %w: remove it and add it again", service, user, ErrFormat)
	}
	return nil
}

// get returns the text of an item, read once for callers that ask at the
// same time, within the store's timeout.
func (s *Store) get(ctx context.Context, service, user string) (string, error) {
	key := item(service, user)
	done := s.reads.DoChan(key, func() (any, error) {
		defer s.endRead(key, s.beginRead(key))
		return s.backend.Get(service, user)
	})
	secret, err := s.wait(ctx, done)
	if errors.Is(err, ErrTimeout) {
		s.abandonStaleRead(key)
	}
	if err != nil {
		return "", err
	}
	return secret.(string), nil
}

func (s *Store) setJSON(ctx context.Context, service, user string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(ctx, service, user, func() error { return s.backend.Set(service, user, string(b)) })
}

// write runs f, a set or delete of an item, with the store's timeout,
// once the writes of the item begun before it ended, those given up on
// included (or abandonRead after it began, whichever is first). Writes are never shared, and reads that start after f began
// or ended do not join a read that began before.
func (s *Store) write(ctx context.Context, service, user string, f func() error) error {
	key := item(service, user)
	s.reads.Forget(key)
	mine := make(chan struct{})
	s.writesMu.Lock()
	before := s.writes[key]
	if s.writes == nil {
		s.writes = map[string]chan struct{}{}
	}
	s.writes[key] = mine
	s.writesMu.Unlock()
	done := make(chan singleflight.Result, 1)
	go func() {
		defer func() {
			s.writesMu.Lock()
			if s.writes[key] == mine {
				delete(s.writes, key)
			}
			s.writesMu.Unlock()
			close(mine)
		}()
		if before != nil {
			// Not for ever: a go-keyring call may never return.
			t := s.clock().NewTimer(abandonRead)
			select {
			case <-before:
			case <-t.Chan():
			}
			t.Stop()
		}
		err := f()
		s.reads.Forget(key)
		done <- singleflight.Result{Err: err}
	}()
	_, err := s.wait(ctx, done)
	return err
}

// beginRead records that a read of key is under way from now, and
// returns its start.
func (s *Store) beginRead(key string) time.Time {
	start := s.clock().Now()
	s.readsMu.Lock()
	defer s.readsMu.Unlock()
	if s.readsStarted == nil {
		s.readsStarted = map[string]time.Time{}
	}
	s.readsStarted[key] = start
	return start
}

// endRead records that the read of key begun at start returned.
func (s *Store) endRead(key string, start time.Time) {
	s.readsMu.Lock()
	defer s.readsMu.Unlock()
	if s.readsStarted[key].Equal(start) { // not a read begun since
		delete(s.readsStarted, key)
	}
}

// abandonStaleRead lets the next read of key ask the keychain anew if the
// one under way began abandonRead ago or more.
func (s *Store) abandonStaleRead(key string) {
	s.readsMu.Lock()
	defer s.readsMu.Unlock()
	if t, ok := s.readsStarted[key]; ok && s.clock().Since(t) >= abandonRead {
		s.reads.Forget(key)
		delete(s.readsStarted, key)
	}
}

// item names an item as the key of its reads.
func item(service, user string) string { return service + "\x00" + user }

// lockWait bounds the wait for the lock file.
const lockWait = 10 * time.Second

// lockFile takes an exclusive lock on path, waiting for it up to lockWait;
// closing the file releases it. The file holds no data, and a link planted
// in its place is not followed.
func (s *Store) lockFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	deadline := s.clock().Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || !s.clock().Now().Before(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is locked by another brokerd command for over %s: wait for it to end and try again", path, lockWait)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		s.clock().Sleep(50 * time.Millisecond)
	}
}

// wait waits for the result of a keychain call with the store's timeout
// and turns go-keyring's errors into this package's. The call goes on in
// the background after a timeout; go-keyring offers no way to cancel it.
func (s *Store) wait(ctx context.Context, done <-chan singleflight.Result) (any, error) {
	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := s.clock().NewTimer(s.Timeout)
		defer t.Stop()
		timeout = t.Chan()
	}
	select {
	case r := <-done:
		return r.Val, classify(r.Err)
	case <-timeout:
		return nil, ErrTimeout
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ErrTimeout
		}
		return nil, ctx.Err()
	}
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrNotFound
	}
	// On macOS go-keyring runs /usr/bin/security and returns only its exit
	// status, the low byte of the Security framework's OSStatus.
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code := exit.ExitCode()
		if code == 44 { // errSecItemNotFound; go-keyring matches only the English text
			return ErrNotFound
		}
		if name, ok := securityStatus[code]; ok {
			return fmt.Errorf("%w (security: %s, %v)", ErrLocked, name, err)
		}
	}
	// go-keyring returns godbus's dial error as it is: a *net.OpError
	// from net.DialUnix (or net.Dial for a tcp: address) when
	// DBUS_SESSION_BUS_ADDRESS names a bus that does not answer.
	var dial *net.OpError
	if errors.As(err, &dial) && dial.Op == "dial" {
		return &busError{err: err}
	}
	if errors.Is(err, ErrNoKeyring) {
		return err
	}
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "unlock"), strings.Contains(msg, "locked"),
		strings.Contains(msg, "interaction is not allowed"), strings.Contains(msg, "dismissed"):
		return fmt.Errorf("%w (%v)", ErrLocked, err)
	case strings.Contains(msg, "org.freedesktop.secrets"), strings.Contains(msg, "dbus"),
		strings.Contains(msg, "not provided by any .service"):
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	return err
}

// busError is a session bus that cannot be dialled: a stale or wrong
// DBUS_SESSION_BUS_ADDRESS, as an ssh session often inherits. It is
// ErrUnavailable, with the fix for its cause. It quotes the dial error but
// does not unwrap to it, so that no caller takes it for the network.
type busError struct{ err error }

func (e *busError) Error() string {
	return fmt.Sprintf("no Secret Service is reachable: the session bus does not answer (%v): "+
		"DBUS_SESSION_BUS_ADDRESS is stale or wrong (common over ssh): unset it, or set it to your desktop session's bus "+
		"(export DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$(id -u)/bus), and try again", e.err)
}

func (e *busError) Is(target error) bool { return target == ErrUnavailable }

// securityStatus names the exit statuses of /usr/bin/security that mean
// the keychain is locked or its unlock prompt was refused.
var securityStatus = map[int]string{
	36:  "errSecInteractionNotAllowed",
	51:  "errSecAuthFailed",
	128: "errSecUserCanceled",
}
