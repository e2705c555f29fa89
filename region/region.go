// Package region provides where AWS SDKs find their region (the variables
// and the profile each one reads), and the region brokerd gives the SDKs of
// a profile it serves, since the container credentials endpoint carries none.
package region

import (
	"cmp"

	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/wire"
)

// Of is the region brokerd gives the SDKs of plan p: the profile's own
// region, else its source profile's, and so on down a chain of roles to
// the profile whose keys sign; "" when none sets one. The SDKs themselves
// read only the profile in use, so for a role that sets no region of its
// own they would find none.
func Of(p profile.Plan) string {
	if p.Region != "" {
		return p.Region
	}
	for i := len(p.Chain) - 1; i >= 0; i-- {
		if r := p.Chain[i].Region; r != "" {
			return r
		}
	}
	return p.Source.Region
}

// Vars are the variables that give the SDKs a region: AWS_REGION (Go, JS,
// Java, aws CLI v2) and AWS_DEFAULT_REGION (the only one aws CLI v1 and
// boto3 read), in that order.
var Vars = []string{wire.VarRegion, wire.VarDefRegion}

// Exports returns the region variables to set so that SDKs use one
// region: the user's when the environment (getenv) has one, else want.
// A variable set in the environment is the user's unless it holds ours,
// the region brokerd gave before (BROKERD_REGION, else the region of the
// profile BROKERD_PROFILE names; "" when unknown). The user's
// variables are never changed: only those unset or brokerd's are set, so
// a region the user gives in one variable reaches the SDKs that read only
// the other (aws CLI v1 reads only AWS_DEFAULT_REGION). Nothing is set when
// there is no region at all.
func Exports(getenv func(string) string, want, ours string) [][2]string {
	region := cmp.Or(usersRegion(getenv, ours), want)
	if region == "" {
		return nil
	}
	var out [][2]string
	for _, v := range Vars {
		if got := getenv(v); got != region && users(getenv, v, ours) == "" {
			out = append(out, [2]string{v, region})
		}
	}
	return out
}

// Stale returns the region variables to unset: those holding ours when
// Exports gives no region (want is "" and the user set none), since they
// would give the SDKs of this profile the region of the one before.
func Stale(getenv func(string) string, want, ours string) []string {
	if ours == "" || cmp.Or(usersRegion(getenv, ours), want) != "" {
		return nil
	}
	var out []string
	for _, v := range Vars {
		if getenv(v) == ours {
			out = append(out, v)
		}
	}
	return out
}

// Given is the region Exports gives the SDKs when it is brokerd's, want,
// rather than the user's; "" when the user's is kept or there is none.
func Given(getenv func(string) string, want, ours string) string {
	if usersRegion(getenv, ours) != "" {
		return ""
	}
	return want
}

// usersRegion is the region the user set, in the first of Vars that holds
// one; "" for none.
func usersRegion(getenv func(string) string, ours string) string {
	return cmp.Or(users(getenv, wire.VarRegion, ours), users(getenv, wire.VarDefRegion, ours))
}

// users is the region the user set in variable v: its value unless
// empty or ours (see Exports).
func users(getenv func(string) string, v, ours string) string {
	if got := getenv(v); got != ours {
		return got
	}
	return ""
}

// SDK is how one family of AWS SDKs finds its region: the first of
// RegionVars that is set, else the region of the active profile in the
// config file, which is the first of ProfileVars that is set, else
// "default".
type SDK struct {
	Name        string
	RegionVars  []string
	ProfileVars []string
}

// SDKs are the SDKs whose rules differ, as their sources read them:
// botocore 1.43 (configprovider.py), aws-sdk-go-v2 config 1.33
// (env_config.go), aws-sdk-js-v3 (region-config-resolver,
// shared-ini-file-loader) and aws-sdk-java-v2 (AwsRegionProviderChain).
var SDKs = []SDK{
	{Name: "aws CLI v1 and boto3", RegionVars: []string{wire.VarDefRegion}, ProfileVars: []string{"AWS_DEFAULT_PROFILE", "AWS_PROFILE"}},
	{Name: "aws CLI v2", RegionVars: []string{wire.VarRegion, wire.VarDefRegion}, ProfileVars: []string{"AWS_DEFAULT_PROFILE", "AWS_PROFILE"}},
	{Name: "Go SDK v2", RegionVars: []string{wire.VarRegion, wire.VarDefRegion}, ProfileVars: []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}},
	{Name: "JS SDK v3 and Java SDK v2", RegionVars: []string{wire.VarRegion}, ProfileVars: []string{"AWS_PROFILE"}},
}

// Profile is the profile s reads its settings from, given the environment.
func (s SDK) Profile(getenv func(string) string) string {
	for _, v := range s.ProfileVars {
		if p := getenv(v); p != "" {
			return p
		}
	}
	return "default"
}

// Find returns the region s finds and where it found it (a variable's
// name, or "profile NAME"); region is "" when s finds none. profileRegion
// returns the region a profile of the config file sets, "" for none.
func (s SDK) Find(getenv func(string) string, profileRegion func(name string) string) (region, from string) {
	for _, v := range s.RegionVars {
		if r := getenv(v); r != "" {
			return r, v
		}
	}
	p := s.Profile(getenv)
	if r := profileRegion(p); r != "" {
		return r, "profile " + p
	}
	return "", ""
}
