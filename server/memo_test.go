package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/brokerd/brokerd/cache"
)

// switchable serves creds for every profile, or err when set.
type switchable struct {
	creds cache.Credentials
	err   error
}

var _ Credentials = (*switchable)(nil)

func (s *switchable) Get(context.Context, string) (cache.Credentials, error) { return s.creds, s.err }

// TestServer_BodiesForgetSecrets checks that the encoded bodies, which hold
// secrets, go when their profile fails (logged out, say) or when their
// credentials expire.
func TestServer_BodiesForgetSecrets(t *testing.T) {
	const token, host = "t0k3n", "127.0.0.1:9911"
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	creds := &switchable{creds: cache.Credentials{Credentials: aws.Credentials{
		AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "session", Expires: now.Add(time.Hour)}}}
	s := newServer(creds, Config{Token: token, Hosts: []string{host}, Now: func() time.Time { return now }})
	get := func(profile string) int {
		r := httptest.NewRequest("GET", "http://"+host+"/v1/credentials/"+profile, nil)
		r.Header.Set("Authorization", token)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	kept := func() []string {
		var names []string
		for name := range *s.bodies.Load() {
			names = append(names, name)
		}
		return names
	}

	get("a")
	get("b")
	if got := kept(); len(got) != 2 {
		t.Fatalf("bodies after serving a and b = %v, want both", got)
	}
	creds.err = errors.New("logged out")
	if code := get("a"); code != 500 {
		t.Fatalf("GET a when failing = %d, want 500", code)
	}
	if got := kept(); len(got) != 1 || got[0] != "b" {
		t.Errorf("bodies after a failed = %v, want b only", got)
	}

	// b's credentials expire; the next body kept (c's, new ones) clears b's.
	now = now.Add(time.Hour)
	creds.err = nil
	creds.creds.Expires = now.Add(time.Hour)
	get("c")
	if got := kept(); len(got) != 1 || got[0] != "c" {
		t.Errorf("bodies after b expired and c was served = %v, want c only", got)
	}
}

func TestSampler(t *testing.T) {
	tests := []struct {
		first, n, want int
	}{
		{10, 5, 5},
		{10, 10, 10},
		{10, 1010, 11},
		{10, 5000, 14},
		{100, 5000, 104},
	}
	for _, tt := range tests {
		s := sampler{first: uint64(tt.first), window: time.Hour} // one window
		got := 0
		for range tt.n {
			if s.sample() {
				got++
			}
		}
		if got != tt.want {
			t.Errorf("sampler{first: %d} let %d of %d lines through, want %d", tt.first, got, tt.n, tt.want)
		}
	}
}
