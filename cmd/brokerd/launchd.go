package main

import (
	"context"
	"os/exec"
	"strings"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// launchctlSetenvProfile exports the default profile's name and region to
// the programs launchd starts from now on, as the environment.d file does
// on Linux; a region of the user's in launchd is kept, and the one brokerd
// gave before is replaced (see launchctlProfileArgs). It asks the daemon,
// which serves by now, over its control socket.
func launchctlSetenvProfile(log *zap.Logger, dir state.Dir) {
	ctx, cancel := context.WithTimeout(context.Background(), ask)
	defer cancel()
	client := control.NewClient(dir)
	defer client.Close()
	res, err := client.Resolve(ctx, "")
	if err != nil {
		log.Warn("launchctl setenv of the default profile's region skipped", zap.Error(err))
		return
	}
	getenv := func(name string) string {
		out, err := exec.Command("launchctl", "getenv", name).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	for _, argv := range launchctlProfileArgs(ctx, client, getenv, res) {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			log.Warn("launchctl "+argv[1]+" failed", zap.String("variable", argv[2]), zap.Error(err), zap.ByteString("output", out))
		}
	}
}

// launchctlProfileArgs are the launchctl commands that give launchd, whose
// variables getenv reads, the profile res and its region as `brokerd env`
// gives them to a shell (regionVars): BROKERD_REGION records the region
// given, so that one edited in the config file replaces it at the next
// start rather than being taken for the user's, and a region the profile
// no longer has is unset.
func launchctlProfileArgs(ctx context.Context, client *control.Client, getenv func(string) string, res control.Resolved) [][]string {
	ours := (&env{}).ours(ctx, client, getenv, res.Profile, res.Region)
	vars := append([][2]string{{wire.VarProfile, res.Profile}}, regionVars(getenv, res.Region, ours)...)
	var out [][]string
	for _, kv := range vars {
		if kv[1] == "" {
			out = append(out, []string{"launchctl", "unsetenv", kv[0]})
		} else {
			out = append(out, []string{"launchctl", "setenv", kv[0], kv[1]})
		}
	}
	return out
}
