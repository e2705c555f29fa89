package main

import (
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/brokerd/brokerd/keychain"
)

// mapBackend is an in-memory keychain.
type mapBackend map[[2]string]string

var _ keychain.Backend = mapBackend{}

func (b mapBackend) Get(service, user string) (string, error) {
	v, ok := b[[2]string{service, user}]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (b mapBackend) Set(service, user, secret string) error {
	b[[2]string{service, user}] = secret
	return nil
}

func (b mapBackend) Delete(service, user string) error {
	delete(b, [2]string{service, user})
	return nil
}

// TestListKeys checks what `keys list` shows for each profile: the masked
// key id, "(missing)" for keys gone from the keychain, and why for keys
// that are there but cannot be read, rather than calling them missing.
func TestListKeys(t *testing.T) {
	b := mapBackend{}
	store := keychain.New(b)
	for _, p := range []string{"dev", "gone", "mangled"} {
		if err := store.AddKeys(t.Context(), p, keychain.Keys{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}); err != nil {
			t.Fatal(err)
		}
	}
	delete(b, [2]string{keychain.Service, "gone"})
	b[[2]string{keychain.Service, "mangled"}] = "not json"
	var stdout, stderr strings.Builder
	e := &env{stdout: &stdout, stderr: &stderr, keys: store}
	if err := e.listKeys(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	want := "dev\tAKIA…MPLE\n" +
		"gone\t(missing)\n" +
		"mangled\t(read keys of profile \"mangled\": keychain item brokerd/mangled is not brokerd's format: remove it and add it again)\n"
	if got := stdout.String(); got != want {
		t.Errorf("keys list printed\n%s\nwant\n%s", got, want)
	}
}
