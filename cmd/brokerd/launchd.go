package main

import (
	"context"
	"os/exec"
	"strings"

	"go.uber.org/zap"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/region"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/wire"
)

// launchctlSetenvProfile exports the default profile's name and region to
// the programs launchd starts from now on, as the environment.d file does
// on Linux; a region already set in launchd is kept (region.Exports). It
// asks the daemon, which serves by now, over its control socket.
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
	e := &env{}
	ours := e.regionOf(ctx, client, getenv(wire.VarProfile), res.Profile, res.Region)
	vars := append([][2]string{{wire.VarProfile, res.Profile}}, region.Exports(getenv, res.Region, ours)...)
	for _, kv := range vars {
		if out, err := exec.Command("launchctl", "setenv", kv[0], kv[1]).CombinedOutput(); err != nil {
			log.Warn("launchctl setenv failed", zap.String("variable", kv[0]), zap.Error(err), zap.ByteString("output", out))
		}
	}
}
