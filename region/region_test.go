package region

import (
	"slices"
	"testing"

	"github.com/brokerd/brokerd/profile"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		plan profile.Plan
		want string
	}{
		{"own region", profile.Plan{Region: "eu-central-1", Source: profile.Profile{Region: "eu-west-1"}}, "eu-central-1"},
		{"source's region", profile.Plan{Source: profile.Profile{Region: "eu-west-1"}}, "eu-west-1"},
		// admin → dev → base: dev is admin's source_profile.
		{"chain: the nearest source's region", profile.Plan{
			Chain:  []profile.Profile{{Name: "dev", Region: "us-east-2"}, {Name: "admin"}},
			Source: profile.Profile{Name: "base", Region: "eu-central-1"}}, "us-east-2"},
		{"chain: the keys' profile's region", profile.Plan{
			Chain:  []profile.Profile{{Name: "dev"}, {Name: "admin"}},
			Source: profile.Profile{Name: "base", Region: "eu-central-1"}}, "eu-central-1"},
		{"none", profile.Plan{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.plan); got != tt.want {
				t.Errorf("Of(%+v) = %q, want %q", tt.plan, got, tt.want)
			}
		})
	}
}

func TestExports(t *testing.T) {
	both := [][2]string{{"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "eu-west-1"}}
	tests := []struct {
		name      string
		getenv    func(string) string
		want, our string
		exports   [][2]string
	}{
		{"nothing set", env(), "eu-west-1", "", both},
		{"no region to give", env(), "", "", nil},
		{"user's AWS_REGION, given to aws CLI v1 too", env("AWS_REGION", "us-east-2"), "eu-west-1", "", [][2]string{{"AWS_DEFAULT_REGION", "us-east-2"}}},
		{"user's AWS_DEFAULT_REGION only", env("AWS_DEFAULT_REGION", "us-east-2"), "eu-west-1", "", [][2]string{{"AWS_REGION", "us-east-2"}}},
		{"user's, and no region to give", env("AWS_REGION", "us-east-2"), "", "", [][2]string{{"AWS_DEFAULT_REGION", "us-east-2"}}},
		{"user's in both", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-east-2"), "eu-west-1", "", nil},
		{"user's, two regions: never changed", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "ap-south-1"), "eu-west-1", "", nil},
		{"brokerd's from another profile", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-east-2"), "eu-west-1", "us-east-2", both},
		{"user's beside brokerd's", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "ap-south-1"), "eu-west-1", "ap-south-1", [][2]string{{"AWS_DEFAULT_REGION", "us-east-2"}}},
		{"already there", env("AWS_REGION", "eu-west-1", "AWS_DEFAULT_REGION", "eu-west-1"), "eu-west-1", "eu-west-1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Exports(tt.getenv, tt.want, tt.our)
			if !slices.Equal(got, tt.exports) {
				t.Errorf("Exports(%q, ours %q) = %q, want %q", tt.want, tt.our, got, tt.exports)
			}
		})
	}
}

func TestStale(t *testing.T) {
	tests := []struct {
		name      string
		getenv    func(string) string
		want, our string
		stale     []string
	}{
		{"brokerd's, and no region to give", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-east-2"), "", "us-east-2", []string{"AWS_REGION", "AWS_DEFAULT_REGION"}},
		{"brokerd's in one", env("AWS_REGION", "us-east-2"), "", "us-east-2", []string{"AWS_REGION"}},
		{"a region to give replaces brokerd's", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-east-2"), "eu-west-1", "us-east-2", nil},
		{"the user's replaces brokerd's", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "ap-south-1"), "", "us-east-2", nil},
		{"the user's", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-east-2"), "", "", nil},
		{"nothing set", env(), "", "us-east-2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Stale(tt.getenv, tt.want, tt.our); !slices.Equal(got, tt.stale) {
				t.Errorf("Stale(%q, ours %q) = %q, want %q", tt.want, tt.our, got, tt.stale)
			}
		})
	}
}

func TestGiven(t *testing.T) {
	tests := []struct {
		name      string
		getenv    func(string) string
		want, our string
		given     string
	}{
		{"nothing set", env(), "eu-west-1", "", "eu-west-1"},
		{"brokerd's replaced", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "us-east-2"), "eu-west-1", "us-east-2", "eu-west-1"},
		{"the user's kept", env("AWS_REGION", "us-east-2"), "eu-west-1", "", ""},
		{"the user's beside brokerd's", env("AWS_REGION", "us-east-2", "AWS_DEFAULT_REGION", "ap-south-1"), "eu-west-1", "ap-south-1", ""},
		{"none", env(), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Given(tt.getenv, tt.want, tt.our); got != tt.given {
				t.Errorf("Given(%q, ours %q) = %q, want %q", tt.want, tt.our, got, tt.given)
			}
		})
	}
}

func TestSDKFind(t *testing.T) {
	regions := map[string]string{"default": "us-west-2", "dev": "eu-west-1"}
	profileRegion := func(p string) string { return regions[p] }
	tests := []struct {
		name   string
		getenv func(string) string
		want   map[string]string // SDK name → "region from"
	}{
		{"AWS_REGION only", env("AWS_REGION", "eu-north-1"), map[string]string{
			"aws CLI v1 and boto3": "us-west-2 profile default", "aws CLI v2": "eu-north-1 AWS_REGION",
			"Go SDK v2": "eu-north-1 AWS_REGION", "JS SDK v3 and Java SDK v2": "eu-north-1 AWS_REGION"}},
		{"AWS_DEFAULT_REGION only", env("AWS_DEFAULT_REGION", "eu-north-1"), map[string]string{
			"aws CLI v1 and boto3": "eu-north-1 AWS_DEFAULT_REGION", "aws CLI v2": "eu-north-1 AWS_DEFAULT_REGION",
			"Go SDK v2": "eu-north-1 AWS_DEFAULT_REGION", "JS SDK v3 and Java SDK v2": "us-west-2 profile default"}},
		{"AWS_DEFAULT_PROFILE", env("AWS_DEFAULT_PROFILE", "dev", "AWS_PROFILE", "nowhere"), map[string]string{
			"aws CLI v1 and boto3": "eu-west-1 profile dev", "aws CLI v2": "eu-west-1 profile dev",
			"Go SDK v2": " ", "JS SDK v3 and Java SDK v2": " "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range SDKs {
				r, from := s.Find(tt.getenv, profileRegion)
				if got := r + " " + from; got != tt.want[s.Name] {
					t.Errorf("%s.Find() = %q, want %q", s.Name, got, tt.want[s.Name])
				}
			}
		})
	}
}
