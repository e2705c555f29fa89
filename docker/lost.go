package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brokerd/brokerd/wire"
)

// Container is a container that brokerd gave a token, as brokerd reads it
// from the engine: never its environment but for the credentials URL (the
// others may hold secrets: --token-env's token, keys of the user's
// options).
type Container struct {
	// ID is the container's full id; Name its name, without docker's '/'.
	ID, Name string
	// Restart is its restart policy as docker run takes it: always,
	// unless-stopped, on-failure[:N]; "" for none.
	Restart string
	Running bool
	// Profile is the profile its credentials URL names; "" when it names
	// none of brokerd's.
	Profile string
	// TokenFile is the source of its token file's mount on the host; ""
	// when it mounts none.
	TokenFile string
	// Gone is true when TokenFile does not exist: the container cannot
	// start (docker refuses a bind mount whose source does not exist).
	Gone bool
	// TokenEnv is true for a container that holds its token in its
	// environment (brokerd docker run --token-env): it has the relay's URL
	// and no token file.
	TokenEnv bool
	// Scope is what its label ScopeLabel records; nil when it has none or
	// the label is not taken, as Untrusted says why.
	Scope     *Scope
	Untrusted string
	// User, CapDrop and CapAdd are its --user and capabilities options,
	// which say who must read the token file.
	User            string
	CapDrop, CapAdd []string
}

// Profiles are the profiles to give c again: its Scope's, else the one its
// URL names; none when it names none.
func (c Container) Profiles() []string {
	if c.Scope != nil {
		return c.Scope.Profiles
	}
	if c.Profile != "" {
		return []string{c.Profile}
	}
	return nil
}

// Restarts reports whether the engine means to start c again: it has a
// restart policy.
func (c Container) Restarts() bool { return c.Restart != "" }

// containerFormat prints a container on one line of tab-separated fields,
// each JSON or a number: id, name, image, restart policy and count,
// running, user, capabilities dropped and added, its label ScopeLabel,
// the credentials URL variable alone, and the source of the token file's
// mount.
const containerFormat = `{{json .Id}}	{{json .Name}}	{{json .Image}}	{{json .HostConfig.RestartPolicy.Name}}	` +
	`{{.HostConfig.RestartPolicy.MaximumRetryCount}}	{{.State.Running}}	{{json .Config.User}}	` +
	`{{json .HostConfig.CapDrop}}	{{json .HostConfig.CapAdd}}	{{with .Config.Labels}}{{json (index . "` + ScopeLabel + `")}}{{end}}	` +
	`{{range .Config.Env}}{{if eq (index (split . "=") 0) "` + wire.VarURL + `"}}{{json .}}{{end}}{{end}}	` +
	`{{range .Mounts}}{{if eq .Destination "` + TokenFile + `"}}{{json .Source}}{{end}}{{end}}`

// LostTokens lists the containers with a restart policy that cannot work
// again, running or not: those whose token file is gone (see
// Container.Gone), and those that hold their token in their environment
// and record in ScopeLabel a token that held (the daemon's) reports
// unknown. held nil leaves the latter out: brokerd cannot tell.
func LostTokens(ctx context.Context, r Runner, held func(id string) bool) ([]Container, error) {
	var ids []string
	for _, filter := range []string{"volume=" + TokenFile, "label=" + ScopeLabel} {
		out, err := r.Docker(ctx, "ps", "--all", "--quiet", "--no-trunc", "--filter", filter)
		if err != nil {
			return nil, err
		}
		for _, id := range strings.Fields(string(out)) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cs, err := inspectContainers(ctx, r, ids)
	if len(cs) == 0 {
		return nil, err
	}
	var lost []Container
	for _, c := range cs {
		if c.Restarts() && (c.Gone || c.TokenEnv && c.Scope != nil && held != nil && !held(c.Scope.ID)) {
			lost = append(lost, c)
		}
	}
	return lost, nil
}

// Containers reads the containers that names (names or ids) name, in that
// order; an error names those the engine does not have.
func Containers(ctx context.Context, r Runner, names []string) ([]Container, error) {
	cs, err := inspectContainers(ctx, r, names)
	if err != nil && len(cs) == 0 {
		return nil, err
	}
	var missing []string
	for _, n := range names {
		if !slices.ContainsFunc(cs, func(c Container) bool { return c.Name == strings.TrimPrefix(n, "/") || strings.HasPrefix(c.ID, n) }) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return cs, fmt.Errorf("no such container: %s (docker ps --all lists them)", strings.Join(missing, ", "))
	}
	return cs, nil
}

// inspectContainers reads the containers ids names. A container removed
// meanwhile fails docker inspect, which still prints the others: those
// are returned, with docker's error.
func inspectContainers(ctx context.Context, r Runner, ids []string) ([]Container, error) {
	out, err := r.Docker(ctx, append([]string{"container", "inspect", "--format", containerFormat}, ids...)...)
	if err != nil && len(out) == 0 {
		return nil, err
	}
	var cs []Container
	images := map[string][]int{} // image id: the containers with a scope label
	// Not TrimSpace: a line ends with a tab when its last field is empty.
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		c, image, ok := parseContainer(line)
		if !ok {
			continue
		}
		if c.Scope != nil {
			images[image] = append(images[image], len(cs))
		}
		cs = append(cs, c)
	}
	distrustImages(ctx, r, images, cs)
	return cs, err
}

// parseContainer reads a line of containerFormat; false when it is not one.
func parseContainer(line string) (c Container, image string, ok bool) {
	f := strings.Split(line, "\t")
	if len(f) != 12 {
		return Container{}, "", false
	}
	str := jsonString
	strs := func(field string) []string {
		var s []string
		json.Unmarshal([]byte(field), &s)
		return s
	}
	c = Container{ID: str(f[0]), Name: strings.TrimPrefix(str(f[1]), "/"), Restart: str(f[3]), Running: f[5] == "true",
		User: str(f[6]), CapDrop: strs(f[7]), CapAdd: strs(f[8]), TokenFile: str(f[11])}
	if c.ID == "" {
		return Container{}, "", false
	}
	if c.Restart == "no" {
		c.Restart = ""
	}
	if n, _ := strconv.Atoi(f[4]); c.Restart == "on-failure" && n > 0 {
		c.Restart += ":" + f[4]
	}
	urlVar := str(f[10])
	if p, ok := strings.CutPrefix(urlVar, wire.VarURL+"="+RelayURL("")); ok {
		c.Profile, _ = url.PathUnescape(p)
	}
	if c.TokenFile != "" {
		_, err := os.Stat(c.TokenFile)
		c.Gone = errors.Is(err, os.ErrNotExist)
	} else {
		c.TokenEnv = strings.HasPrefix(urlVar, wire.VarURL+"="+RelayURL(""))
	}
	if v := str(f[9]); v != "" {
		s, err := ParseScope(v)
		switch {
		case err != nil:
			c.Untrusted = err.Error()
		case c.Profile == "" || s.Profiles[0] != c.Profile:
			c.Untrusted = fmt.Sprintf("its label %s names profile %s first, its credentials URL %q", ScopeLabel, s.Profiles[0], c.Profile)
		default:
			c.Scope = &s
		}
	}
	return c, str(f[2]), true
}

// jsonString is the first JSON string in field ("" for none): docker
// prints a variable named twice twice.
func jsonString(field string) string {
	var s string
	json.NewDecoder(strings.NewReader(field)).Decode(&s)
	return s
}

// distrustImages drops the Scope of the containers whose image sets
// ScopeLabel too, or cannot be read: a container's labels include its
// image's, so an image could name profiles that brokerd never gave the
// container (one that brokerd docker run did not label). images maps an
// image id to the indexes in cs of its containers.
func distrustImages(ctx context.Context, r Runner, images map[string][]int, cs []Container) {
	if len(images) == 0 {
		return
	}
	ids := make([]string, 0, len(images))
	for id := range images {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// An image without labels has none to index: with prints nothing.
	out, _ := r.Docker(ctx, append([]string{"image", "inspect", "--format", `{{json .Id}}	{{with .Config.Labels}}{{json (index . "` + ScopeLabel + `")}}{{end}}`}, ids...)...)
	clean := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		id, label, ok := strings.Cut(line, "\t")
		if ok && jsonString(label) == "" {
			clean[jsonString(id)] = true
		}
	}
	for image, idx := range images {
		if clean[image] {
			continue
		}
		for _, i := range idx {
			cs[i].Scope = nil
			cs[i].Untrusted = fmt.Sprintf("its image sets label %s too (or cannot be read), so brokerd cannot tell that it recorded it", ScopeLabel)
		}
	}
}

// runCommand is the brokerd docker run command line that makes c again.
func (c Container) runCommand() string {
	profile := c.Profile
	if profile == "" {
		profile = "PROFILE"
	}
	cmd := "brokerd docker run " + wire.ShellQuote(profile)
	if s := c.Scope; s != nil {
		for _, p := range s.Profiles[1:] {
			cmd += " --also " + wire.ShellQuote(p)
		}
		cmd += " --label " + wire.ShellQuote(s.Label)
		if s.TTLSeconds > 0 {
			cmd += " --ttl " + (time.Duration(s.TTLSeconds) * time.Second).String()
		}
	}
	if c.TokenEnv {
		cmd += " --token-env"
	}
	cmd += " --"
	if c.Restart != "" {
		cmd += " --restart " + c.Restart
	}
	return cmd + " --name " + wire.ShellQuote(c.Name) + " [your other options] IMAGE"
}

// Remake is what makes c again, with a new token: docker cannot change a
// container's mounts or environment.
func (c Container) Remake() string {
	return "docker rm -f " + wire.ShellQuote(c.Name) + ", then " + c.runCommand()
}

// Fix is what to do about c, lost: give it a new token in place (brokerd
// docker reissue), or, for a token in its environment, which cannot be
// changed, make it again.
func (c Container) Fix() string {
	if c.TokenEnv {
		return "make it again (a token in its environment cannot be changed in place): " + c.Remake()
	}
	return "brokerd docker reissue " + wire.ShellQuote(c.Name) + " gives it a new token in place (or make it again: " + c.Remake() + ")"
}

// Problem says what is wrong with c, lost, on one line.
func (c Container) Problem() string {
	policy := ""
	if c.Restart != "" {
		policy = " (--restart " + c.Restart + ")"
	}
	if c.TokenEnv {
		return "container " + c.Name + policy + " holds in its environment a token that brokerd no longer knows (a reboot or a logout empties the state directory): it is refused InvalidToken"
	}
	return "container " + c.Name + policy + " cannot start again: its token file " + c.TokenFile +
		" is gone (a reboot or a logout empties the state directory; a token's file also goes a day after the token ends)"
}
