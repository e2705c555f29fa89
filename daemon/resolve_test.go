package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/fault"
)

func TestService_Resolve(t *testing.T) {
	w := newWorld(t)
	config := "[profile dev]\nregion = eu-west-1\n[profile prod]\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n" +
		"[profile eu]\nregion = eu-central-1\nrole_arn = arn:aws:iam::999999999999:role/UpdateApp\nsource_profile = dev\n"
	if err := os.WriteFile(w.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, w, nil)
	s.defaultProfile = "prod"
	w.keys.keys["ci"] = w.keys.keys["dev"]
	tests := []struct {
		name string
		want control.Resolved
		kind fault.Kind // of the error; Internal: none
	}{
		{"", control.Resolved{Profile: "prod", Region: "eu-west-1"}, fault.Internal},
		{"eu", control.Resolved{Profile: "eu", Region: "eu-central-1"}, fault.Internal},
		{"dev", control.Resolved{Profile: "dev", Region: "eu-west-1"}, fault.Internal},
		{"ci", control.Resolved{Profile: "ci"}, fault.Internal},
		{"nowhere", control.Resolved{}, fault.NotFound},
		{"a/b", control.Resolved{}, fault.InvalidInput},
	}
	for _, tt := range tests {
		got, err := s.Resolve(t.Context(), tt.name)
		if tt.kind == fault.Internal && (err != nil || got != tt.want) {
			t.Errorf("Resolve(%q) = %+v, %v, want %+v", tt.name, got, err, tt.want)
		}
		if tt.kind != fault.Internal && fault.KindOf(err) != tt.kind {
			t.Errorf("Resolve(%q) = %+v, %v, want an error of kind %v", tt.name, got, err, tt.kind)
		}
	}
	_, err := s.Resolve(t.Context(), "nowhere")
	if err == nil || !strings.Contains(err.Error(), "brokerd keys add nowhere") {
		t.Errorf("Resolve(nowhere) = %v, want it to say how to add the profile", err)
	}
}
