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

// ChooseProfile picks the default profile of an install given o (its
// DefaultProfile, and its other flags for the advice when it refuses),
// reading the AWS config file at configPath (the daemon may not run yet to
// ask): o.DefaultProfile when given, else "default". Either must be a
// profile of the config file or have keys in the keychain (keychain lists
// those); otherwise it refuses, naming the profiles there are.
func ChooseProfile(configPath string, keychain []string, o Options) (Choice, error) {
	asked := o.DefaultProfile
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
		return Choice{}, noProfile(configPath, names, name, o)
	}
	plan, err := cfg.Plan(name)
	if err != nil {
		return Choice{}, fmt.Errorf("default profile %s: %w", name, err)
	}
	return Choice{Profile: name, Region: region.Of(plan)}, nil
}

// noProfile says that name is not a profile of names, and what to do;
// o.DefaultProfile is the one asked for, if any.
func noProfile(configPath string, names []string, name string, o Options) error {
	asked := o.DefaultProfile != ""
	o.DefaultProfile = ""
	again := o.Command("install") + " --default-profile NAME" // the other flags repeated
	if len(names) == 0 {
		return fmt.Errorf("there are no profiles yet, and the service needs one to serve by default: add keys with `%s keys add NAME` and roles to %s, then run `%s`", o.bin(), configPath, again)
	}
	list := strings.Join(names, ", ")
	if !asked {
		return fmt.Errorf("%s has no profile \"default\" (nor has the keychain) for new sessions to use: run `%s` with one of: %s", configPath, again, list)
	}
	msg := fmt.Sprintf("--default-profile %s: no such profile in %s nor keys for it in the keychain", name, configPath)
	if s := suggest.Closest(name, names); s != "" {
		msg += fmt.Sprintf(": did you mean %s?", s)
	}
	return errors.New(msg + " (profiles: " + list + ")")
}
