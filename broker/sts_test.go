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
	client := func(name string) *sts.Client {
		b.sts.mu.Lock()
		defer b.sts.mu.Unlock()
		return b.sts.clients[name]
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
	first := client("dev")
	if first == nil {
		t.Fatalf("after Login(%q) no STS client is kept for it", "dev")
	}
	login()
	if c := client("dev"); c != first {
		t.Errorf("the second Login(%q) built a new STS client, want the first one reused", "dev")
	}
	fetch()
	role := client("prod")
	if role == nil || role == first {
		t.Fatalf("Fetch(%q) kept STS client %p, want one of its own besides dev's %p", "prod", role, first)
	}
	fetch()
	if c := client("prod"); c != role {
		t.Errorf("the second Fetch(%q) built a new STS client, want the first one reused", "prod")
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
	edited := client("dev")
	if edited == first {
		t.Errorf("Login(%q) after the config file changed reused the STS client built before", "dev")
	}
	if c := client("prod"); c != nil {
		t.Errorf("after the config file changed the STS client of %q is kept, want it dropped", "prod")
	}

	if _, err := b.Reload(); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	login()
	if c := client("dev"); c == edited {
		t.Errorf("Login(%q) after Reload() reused the STS client built before", "dev")
	}
}
