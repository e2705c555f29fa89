package federationfake_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/brokerd/brokerd/internal/federationfake"
)

func TestServer(t *testing.T) {
	s := federationfake.New(federationfake.Config{Check: func(r federationfake.Request) error {
		if r.Credentials.AccessKeyID != "ASIAGOOD" {
			return errors.New("refused")
		}
		return nil
	}})
	defer s.Close()
	get := func(q url.Values) int {
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(s.URL + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name    string
		session string
		want    int
	}{
		{"accepted", `{"sessionId":"ASIAGOOD","sessionKey":"k","sessionToken":"t"}`, http.StatusOK},
		{"refused by the check", `{"sessionId":"ASIABAD","sessionKey":"k","sessionToken":"t"}`, http.StatusBadRequest},
		{"no session token", `{"sessionId":"ASIAGOOD","sessionKey":"k"}`, http.StatusBadRequest},
		{"not JSON", `sessionId=ASIAGOOD`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		q := url.Values{"Action": {"getSigninToken"}, "Session": {tt.session}}
		if got := get(q); got != tt.want {
			t.Errorf("getSigninToken(%s) = %d, want %d", tt.session, got, tt.want)
		}
	}
	if got := len(s.Requests()); got != 2 {
		t.Errorf("len(Requests()) = %d, want 2 (those with all three fields)", got)
	}
	if got := get(url.Values{"Action": {"login"}, "SigninToken": {"forged"}, "Destination": {"https://console.aws.amazon.com/"}}); got != http.StatusBadRequest {
		t.Errorf("login with a forged token = %d, want %d", got, http.StatusBadRequest)
	}
	if got := s.Logins(); got != 0 {
		t.Errorf("Logins() = %d, want 0", got)
	}
}
