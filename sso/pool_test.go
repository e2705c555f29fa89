package sso

import (
	"net/http"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/wakepool"
)

// TestServices_WakingPool checks that the SDK clients of a region send
// through a pool that drops connections a sleep left dead.
func TestServices_WakingPool(t *testing.T) {
	c := New(nil, zap.NewNop(), Config{})
	s, err := c.services(t.Context(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for name, hc := range map[string]any{"oidc": s.oidc.Options().HTTPClient, "portal": s.portal.Options().HTTPClient} {
		if c, ok := hc.(*http.Client); !ok {
			t.Errorf("%s client sends through %T, want an *http.Client", name, hc)
		} else if _, ok := c.Transport.(*wakepool.Pool); !ok {
			t.Errorf("%s client's transport is %T, want *wakepool.Pool", name, c.Transport)
		}
	}
}
