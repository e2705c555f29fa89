package main

import (
	"reflect"
	"testing"

	"github.com/brokerd/brokerd/control"
)

// TestLaunchctlProfileArgs checks what the daemon started by launchd sets
// in launchd at each start: the profile and its region where launchd has
// none, the region it gave before replaced when the profile's was edited
// (or unset when it has none now), and a region of the user's kept.
func TestLaunchctlProfileArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		launchd map[string]string // launchd's variables before
		res     control.Resolved
		want    [][]string
	}{
		{"first start", nil, control.Resolved{Profile: "prod", Region: "eu-west-1"}, [][]string{
			{"launchctl", "setenv", "BROKERD_PROFILE", "prod"},
			{"launchctl", "setenv", "AWS_REGION", "eu-west-1"},
			{"launchctl", "setenv", "AWS_DEFAULT_REGION", "eu-west-1"},
			{"launchctl", "setenv", "BROKERD_REGION", "eu-west-1"},
		}},
		{"the profile's region edited",
			map[string]string{"BROKERD_PROFILE": "prod", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "BROKERD_REGION": "eu-west-1"},
			control.Resolved{Profile: "prod", Region: "us-east-2"}, [][]string{
				{"launchctl", "setenv", "BROKERD_PROFILE", "prod"},
				{"launchctl", "setenv", "AWS_REGION", "us-east-2"},
				{"launchctl", "setenv", "AWS_DEFAULT_REGION", "us-east-2"},
				{"launchctl", "setenv", "BROKERD_REGION", "us-east-2"},
			}},
		{"the profile's region removed",
			map[string]string{"BROKERD_PROFILE": "prod", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "BROKERD_REGION": "eu-west-1"},
			control.Resolved{Profile: "prod"}, [][]string{
				{"launchctl", "setenv", "BROKERD_PROFILE", "prod"},
				{"launchctl", "unsetenv", "AWS_REGION"},
				{"launchctl", "unsetenv", "AWS_DEFAULT_REGION"},
				{"launchctl", "unsetenv", "BROKERD_REGION"},
			}},
		{"a region of the user's", map[string]string{"AWS_REGION": "ap-south-1"}, control.Resolved{Profile: "prod", Region: "eu-west-1"}, [][]string{
			{"launchctl", "setenv", "BROKERD_PROFILE", "prod"},
			{"launchctl", "setenv", "AWS_DEFAULT_REGION", "ap-south-1"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(name string) string { return tc.launchd[name] }
			// No client: with BROKERD_REGION set, or no BROKERD_PROFILE,
			// nothing asks the daemon.
			got := launchctlProfileArgs(t.Context(), nil, getenv, tc.res)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("launchctlProfileArgs(%v, %+v) = %q, want %q", tc.launchd, tc.res, got, tc.want)
			}
		})
	}
}
