package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/brokerd/brokerd/profile"
	"github.com/brokerd/brokerd/region"
	"github.com/brokerd/brokerd/suggest"
)

// Choice is the profile an installed service serves by default, and the
// region for its SDKs.
type Choice struct {
	Profile string
	Region  string // see region.Of; empty when the profile sets none
}

// ChooseProfile picks the default profile of an install, reading the AWS
// config file at configPath (the daemon may not run yet to ask):
// asked when given, else "default". Either must be a profile of the config
// file or have keys in the keychain (keychain lists those); otherwise it
// refuses, naming the profiles there are.
func ChooseProfile(configPath string, keychain []string, asked string) (Choice, error) {
	cfg, err := profile.Load(configPath)
	if err != nil {
		return Choice{}, fmt.Errorf("choose the default profile: %w", err)
	}
	names := slices.Concat(cfg.Names(), keychain)
	slices.Sort(names)
	names = slices.Compact(names)
	name := asked
	if name == "" {
		name = "default"
	}
	if !slices.Contains(names, name) {
		return Choice{}, noProfile(configPath, names, name, asked != "")
	}
	plan, err := cfg.Plan(name)
	if err != nil {
		return Choice{}, fmt.Errorf("default profile %s: %w", name, err)
	}
	return Choice{Profile: name, Region: region.Of(plan)}, nil
}

// noProfile says that name is not a profile, and what to do.
func noProfile(configPath string, names []string, name string, asked bool) error {
	if len(names) == 0 {
		return fmt.Errorf("there are no profiles yet, and the service needs one to serve by default: add keys with `brokerd keys add NAME` and roles to %s, then run `brokerd install --default-profile NAME`", configPath)
	}
	list := strings.Join(names, ", ")
	if !asked {
		return fmt.Errorf("%s has no profile \"default\" (nor has the keychain) for new sessions to use: run `brokerd install --default-profile NAME` with one of: %s", configPath, list)
	}
	msg := fmt.Sprintf("--default-profile %s: no such profile in %s nor keys for it in the keychain", name, configPath)
	if s := suggest.Closest(name, names); s != "" {
		msg += fmt.Sprintf(": did you mean %s?", s)
	}
	return errors.New(msg + " (profiles: " + list + ")")
}
