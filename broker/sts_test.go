package broker

import (
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestSTSClients_ReusedUntilTheConfigChanges(t *testing.T) {
	w := newMFAWorld(t)
	b := w.broker()
	clients := func() map[stsKey]*sts.Client {
		b.sts.mu.Lock()
		defer b.sts.mu.Unlock()
		out := map[stsKey]*sts.Client{}
		for k, c := range b.sts.clients {
			out[k] = c
		}
		return out
	}
	only := func(what string) *sts.Client {
		t.Helper()
		cs := clients()
		if len(cs) != 1 {
			t.Fatalf("%s: %d STS clients kept, want 1 (one region, one endpoint)", what, len(cs))
		}
		for _, c := range cs {
			return c
		}
		return nil
	}
	login := func() {
		t.Helper()
		if _, _, err := b.Login(t.Context(), plan(t, b, "dev"), "123456", time.Hour); err != nil {
			t.Fatalf("Login(%q) = %v", "dev", err)
		}
	}
	fetch := func() {
		t.Helper()
		if _, err := b.Fetch(t.Context(), "prod"); err != nil {
			t.Fatalf("Fetch(%q) = %v", "prod", err)
		}
	}

	login()
	first := only("after a login")
	login()
	fetch()
	fetch()
	if c := only("after logins and fetches of two profiles"); c != first {
		t.Errorf("later calls built a new STS client, want the first one reused")
	}

	// An edited config file may move STS: the clients are built anew.
	f, err := os.OpenFile(w.cfg.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("# edited\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	login()
	edited := only("after the config file changed")
	if edited == first {
		t.Errorf("Login(%q) after the config file changed reused the STS client built before", "dev")
	}
	if _, err := b.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	login()
	if c := only("after Reload"); c == edited {
		t.Errorf("Login(%q) after Reload() reused the STS client built before", "dev")
	}
}
