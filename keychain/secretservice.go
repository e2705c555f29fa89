package keychain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// ErrNoKeyring means the Secret Service has no default keyring (collection)
// to keep items in: it was deleted, or never made. It is ErrUnavailable too.
var ErrNoKeyring = errors.New("the Secret Service has no default keyring (it was deleted, or never created): " +
	"create one and set it as default (Seahorse, \"Passwords and Keys\": + then \"Password keyring\", then \"Set as default\"; " +
	"or log out and in, which creates the login keyring), then add your keys again with brokerd keys add PROFILE")

// noDefaultUnlock is how go-keyring fails when it could not unlock the
// default collection: whether it is locked or does not exist.
const noDefaultUnlock = "failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"

// noKeyringError is ErrNoKeyring with go-keyring's error.
type noKeyringError struct{ err error }

func (e *noKeyringError) Error() string { return fmt.Sprintf("%v (%v)", ErrNoKeyring, e.err) }

func (e *noKeyringError) Is(target error) bool {
	return target == ErrNoKeyring || target == ErrUnavailable
}

// explain tells a default collection that go-keyring could not unlock
// because there is none from one that is locked: it asks the Secret
// Service (defaultKeyring) what the alias "default" names.
func explain(err error, defaultKeyring func() (string, error)) error {
	if err == nil || !strings.Contains(err.Error(), noDefaultUnlock) {
		return err
	}
	if path, aerr := defaultKeyring(); aerr == nil && path == "/" {
		return &noKeyringError{err: err}
	}
	return err
}

// defaultKeyring is the object path of the Secret Service's default
// collection on the session bus, "/" when there is none.
func defaultKeyring() (string, error) {
	conn, err := dbus.SessionBus() // shared with go-keyring: not closed
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var path dbus.ObjectPath
	err = conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
		CallWithContext(ctx, "org.freedesktop.Secret.Service.ReadAlias", 0, "default").Store(&path)
	return string(path), err
}
