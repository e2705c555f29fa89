package daemon

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"github.com/brokerd/brokerd/broker"
	"github.com/brokerd/brokerd/cache"
	"github.com/brokerd/brokerd/fault"
	"github.com/brokerd/brokerd/profile"
)

// newTestService returns a service over w without the HTTP servers; load
// may count config loads (nil: profile.Load).
func newTestService(t *testing.T, w *world, load func(string) (*profile.Config, error)) *service {
	t.Helper()
	clock := clockwork.NewRealClock()
	b := broker.New(w.keys, broker.Config{ConfigPath: w.config, Load: load, Sessions: w.keys, Clock: clock})
	c := cache.New(b.Fetch, cache.Config{Clock: clock, Epoch: b.ConfigEpoch})
	t.Cleanup(func() { c.Close(); b.Close() })
	return &service{cache: c, broker: b, keys: w.keys, clock: clock, log: zap.NewNop(), started: clock.Now()}
}

func TestService_SettleGathersABurst(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s := &service{clock: clock}
	ch := make(chan struct{}, 1)
	done := make(chan bool)
	go func() { done <- s.settle(t.Context(), ch) }()
	// Requests 100 ms apart keep it waiting; the two-second bound ends it.
	for range 19 {
		clock.BlockUntilContext(t.Context(), 2)
		ch <- struct{}{}
		clock.Advance(100 * time.Millisecond)
	}
	clock.BlockUntilContext(t.Context(), 2)
	clock.Advance(100 * time.Millisecond)
	if !<-done {
		t.Error("settle() = false, want true after the burst")
	}
}

// Seconds from a control request are refused, not wrapped around, beyond
// a Duration's range: 2^55 + 3600 seconds would otherwise be an hour.
func TestSeconds(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
		ok   bool
	}{
		{0, 0, true},
		{3600, time.Hour, true},
		{-1, -time.Second, true}, // each field's own range check refuses it
		{1<<55 + 3600, 0, false},
		{-(1<<55 + 3600), 0, false},
		{math.MaxInt64, 0, false},
		{math.MaxInt64 / int(time.Second), math.MaxInt64 / time.Second * time.Second, true},
	} {
		got, err := seconds("ttl_seconds", tt.n)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("seconds(%d) = %v, %v; want %v, ok %v", tt.n, got, err, tt.want, tt.ok)
		}
		if err != nil && (fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), "ttl_seconds")) {
			t.Errorf("seconds(%d) error = %v, want InvalidInput naming the field", tt.n, err)
		}
	}
}

func TestPlanChanged(t *testing.T) {
	const base = "[profile dev]\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n"
	parse := func(text string) *profile.Config { return profile.Parse("config", []byte(text)) }
	tests := []struct {
		name      string
		old, cfg  *profile.Config
		profile   string
		isChanged bool
	}{
		{"nothing applied before", nil, parse(base), "prod", true},
		{"same file", parse(base), parse(base), "prod", false},
		{"a comment added", parse(base), parse("# work\n" + base), "prod", false},
		{"another profile added", parse(base), parse(base + "[profile ops]\nregion = eu-west-1\n"), "prod", false},
		{"another role", parse(base), parse(strings.Replace(base, "UpdateApp", "ReadOnly", 1)), "prod", true},
		{"MFA on the source", parse(base), parse(strings.Replace(base, "[profile dev]\n", "[profile dev]\nmfa_serial = arn:aws:iam::111111111111:mfa/dev\n", 1)), "prod", true},
		{"another region", parse(base), parse(base + "region = eu-west-1\n"), "prod", true},
		{"the profile removed", parse(base), parse("[profile dev]\n"), "prod", true},
		{"a keychain-only name, still absent", parse(base), parse(base + "[profile ops]\n"), "ci", false},
		{"the source made invalid", parse(base), parse(strings.Replace(base, "source_profile = dev", "source_profile = prod", 1)), "prod", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planChanged(tt.old, tt.cfg, tt.profile); got != tt.isChanged {
				t.Errorf("planChanged(%s) = %v, want %v", tt.profile, got, tt.isChanged)
			}
		})
	}
}

// status --json shows empty lists as [], not null, for scripts that
// iterate over them.
func TestService_StatusEmptyLists(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(w.config, nil, 0o600)
	w.keys.remove("dev")
	st, err := newTestService(t, w, nil).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	for _, want := range []string{`"profiles":[]`, `"sessions":[]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Status() as JSON = %s, want %s in it", b, want)
		}
	}
}
