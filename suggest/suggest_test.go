package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"dev", "prod", "staging", "default"}
	tests := []struct{ name, want string }{
		{"dve", "dev"},         // transposition
		{"prd", "prod"},        // deletion
		{"stagign", "staging"}, // transposition in a longer name
		{"defualt", "default"}, // transposition
		{"Prod", "prod"},       // case
		{"dev", ""},            // a candidate itself
		{"qa", ""},             // nothing close
		{"production-eu", ""},  // too far
		{"x", ""},              // one letter matches nothing here
	}
	for _, tt := range tests {
		if got := Closest(tt.name, names); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Closest("mfa_serail", []string{"mfa_serial", "mfa_process", "region"}); got != "mfa_serial" {
		t.Errorf("Closest(mfa_serail) = %q, want mfa_serial", got)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"ab", "ba", 1}, {"dve", "dev", 1}, {"é", "e", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
