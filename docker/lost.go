package docker

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/brokerd/brokerd/wire"
)

// Lost is a container that the engine means to start again (it has a
// restart policy) but whose token file is gone, so that it cannot: docker
// refuses a bind mount whose source does not exist. Token files live in
// the state directory, in the runtime directory that a reboot or a logout
// empties; brokerd keeps no token anywhere else.
type Lost struct {
	// Name is the container's name, without docker's leading '/'.
	Name string
	// Restart is its restart policy as docker run takes it: always,
	// unless-stopped, on-failure[:N].
	Restart string
	// Profile is the profile its credentials URL names; "" when it names
	// none of brokerd's.
	Profile string
	// TokenFile is the missing token file on the host.
	TokenFile string
}

// lostFormat prints, for a container, its name, restart policy and
// count, the credentials URL variable alone (not the others, which may
// hold secrets: --token-env, keys of the user's options) and, last, as it
// may hold '|', the source of the token file's mount.
const lostFormat = `{{.Name}}|{{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.RestartPolicy.MaximumRetryCount}}|` +
	`{{range .Config.Env}}{{if eq (index (split . "=") 0) "` + wire.VarURL + `"}}{{.}}{{end}}{{end}}|` +
	`{{range .Mounts}}{{if eq .Destination "` + TokenFile + `"}}{{.Source}}{{end}}{{end}}`

// LostTokens lists the containers with a restart policy whose token file
// is gone (see Lost), running or not.
func LostTokens(ctx context.Context, r Runner) ([]Lost, error) {
	out, err := r.Docker(ctx, "ps", "--all", "--quiet", "--no-trunc", "--filter", "volume="+TokenFile)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return nil, nil
	}
	// A container removed since docker ps fails inspect, which still
	// prints the others.
	out, err = r.Docker(ctx, append([]string{"container", "inspect", "--format", lostFormat}, ids...)...)
	if err != nil && len(out) == 0 {
		return nil, err
	}
	var lost []Lost
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 || f[1] == "" || f[1] == "no" || f[4] == "" {
			continue
		}
		if _, err := os.Stat(f[4]); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		l := Lost{Name: strings.TrimPrefix(f[0], "/"), Restart: f[1], TokenFile: f[4]}
		if n, _ := strconv.Atoi(f[2]); l.Restart == "on-failure" && n > 0 {
			l.Restart += ":" + f[2]
		}
		if p, ok := strings.CutPrefix(f[3], wire.VarURL+"="+RelayURL("")); ok {
			l.Profile, _ = url.PathUnescape(p)
		}
		lost = append(lost, l)
	}
	return lost, nil
}

// Fix is what to do about l: docker cannot change a container's mounts,
// so it is made again, with a new token.
func (l Lost) Fix() string {
	profile := l.Profile
	if profile == "" {
		profile = "PROFILE"
	}
	return "docker rm -f " + wire.ShellQuote(l.Name) + ", then brokerd docker run " + wire.ShellQuote(profile) + " -- --restart " + l.Restart +
		" --name " + wire.ShellQuote(l.Name) + " [your other options] IMAGE"
}

// Problem says what is wrong with l, on one line.
func (l Lost) Problem() string {
	return "container " + l.Name + " (--restart " + l.Restart + ") cannot start again: its token file " + l.TokenFile +
		" is gone (a reboot or a logout empties the state directory; a token's file also goes a day after the token ends)"
}
