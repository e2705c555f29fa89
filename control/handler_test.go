package control_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
)

// fakeService records the profile asked to refresh and panics on Status.
type fakeService struct{ refreshed string }

var _ control.Service = (*fakeService)(nil)

func (f *fakeService) Status(context.Context) (control.Status, error) { panic("a bug") }
func (f *fakeService) Refresh(_ context.Context, profile string) error {
	f.refreshed = profile
	return nil
}
func (f *fakeService) Reload(context.Context) error { return nil }
func (f *fakeService) Login(context.Context, control.Login) (control.LoginResult, error) {
	return control.LoginResult{}, nil
}
func (f *fakeService) Logout(context.Context, string) (string, error) { return "", nil }

func TestHandler(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string
		wantRefreshed      string
	}{
		{"escaped profile", "POST", "/v1/refresh/a%2Cb", 200, "", "a,b"},
		{"percent in profile", "POST", "/v1/refresh/50%25", 200, "", "50%"},
		{"escaped percent in profile", "POST", "/v1/refresh/a%252Cb", 200, "", "a%2Cb"},
		{"unknown path", "GET", "/v2/status", 404, "NotFound", ""},
		{"wrong method", "DELETE", "/v1/status", 405, "MethodNotAllowed", ""},
		{"panic", "GET", "/v1/status", 500, "InternalError", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			w := httptest.NewRecorder()
			control.Handler(svc, zap.NewNop()).ServeHTTP(w, httptest.NewRequest(tt.method, "http://brokerd"+tt.path, nil))
			if w.Code != tt.wantStatus || svc.refreshed != tt.wantRefreshed {
				t.Fatalf("%s %s = %d (refreshed %q), want %d (refreshed %q); body %s", tt.method, tt.path, w.Code, svc.refreshed, tt.wantStatus, tt.wantRefreshed, w.Body)
			}
			if tt.wantCode == "" {
				return
			}
			var body struct{ Code, Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != tt.wantCode || body.Message == "" {
				t.Errorf("%s %s body = %s (%v), want code %s with a message", tt.method, tt.path, w.Body, err, tt.wantCode)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}
