package docker

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/brokerd/brokerd/wire"
)

// Client is what a container needs to get a profile's credentials.
type Client struct {
	Profile string
	// HostTokenFile is the token file on the host, mounted read-only at
	// TokenFile; with TokenEnv it is not mounted. Its path must not hold a
	// comma (docker's --mount syntax).
	HostTokenFile string
	// TokenEnv passes the token in AWS_CONTAINER_AUTHORIZATION_TOKEN,
	// taken by docker from its own environment, instead of the file.
	TokenEnv bool
	// CIDFile, when set, is where docker writes the container's id, which
	// names the container in the audit log.
	CIDFile string
	// Region is the profile's region; "" sets none.
	Region string
	// KeepNetRaw leaves the container Docker's default CAP_NET_RAW, which
	// Args otherwise drops: with it a container forges ARP answers for the
	// relay's address and collects the other containers' tokens. Set it
	// only when the options add it back (RunOptions.AddsNetRaw).
	KeepNetRaw bool
	// Scope, when set, is recorded in the container's label ScopeLabel,
	// for brokerd docker reissue.
	Scope *Scope
}

// Args are the options of docker run that give a container c's
// credentials: brokerd's network, without CAP_NET_RAW (see KeepNetRaw),
// the endpoint's URL at the relay, the token (the file's mount, or the
// variable's name), the region.
func (c Client) Args() []string {
	args := []string{"--network", Network}
	if !c.KeepNetRaw {
		args = append(args, "--cap-drop", "NET_RAW")
	}
	if c.CIDFile != "" {
		args = append(args, "--cidfile", c.CIDFile)
	}
	args = append(args, "--env", wire.VarURL+"="+RelayURL(c.Profile))
	if c.TokenEnv {
		args = append(args, "--env", wire.VarToken)
	} else {
		// --mount, unlike --volume, refuses a missing file rather than
		// making a directory in its place.
		args = append(args, "--env", wire.VarTokenFile+"="+TokenFile, "--mount", "type=bind,source="+c.HostTokenFile+",target="+TokenFile+",readonly")
	}
	if c.Region != "" {
		args = append(args, "--env", wire.VarRegion+"="+c.Region, "--env", wire.VarDefRegion+"="+c.Region)
	}
	if c.Scope != nil {
		args = append(args, "--label", ScopeLabel+"="+c.Scope.String())
	}
	return args
}

// Env are the variables of c, for compose files and the like.
func (c Client) Env() [][2]string {
	env := [][2]string{{wire.VarURL, RelayURL(c.Profile)}, {wire.VarTokenFile, TokenFile}}
	if c.Region != "" {
		env = append(env, [2]string{wire.VarRegion, c.Region}, [2]string{wire.VarDefRegion, c.Region})
	}
	return env
}

// Compose is a docker compose fragment for a service named service that
// gives it c's credentials. The service stays on its project's default
// network too: a service that names networks is on those alone, and would
// no longer reach the other services of its project. It drops CAP_NET_RAW,
// as Args does; a cap_add of the service's own gives it back.
func (c Client) Compose(service string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "services:\n  %s:\n", service)
	fmt.Fprintf(&b, "    # default: the project's network, where the other services are (name yours instead if the service lists its own)\n")
	fmt.Fprintf(&b, "    networks: [default, %s]\n", Network)
	fmt.Fprintf(&b, "    # without it no container on %s can forge ARP answers for the relay's address and take the others' tokens\n", Network)
	fmt.Fprintf(&b, "    cap_drop: [NET_RAW]\n    environment:\n")
	for _, kv := range c.Env() {
		fmt.Fprintf(&b, "      %s: %s\n", kv[0], composeQuote(kv[1]))
	}
	// The long syntax: the short one ("SRC:DST:ro") makes a directory
	// where the token file is missing, and splits a path with a colon.
	fmt.Fprintf(&b, "    volumes:\n      - type: bind\n        source: %s\n        target: %s\n        read_only: true\n", composeQuote(c.HostTokenFile), TokenFile)
	if c.Scope != nil {
		fmt.Fprintf(&b, "    labels:\n      %s: %s\n", ScopeLabel, composeQuote(c.Scope.String()))
	}
	fmt.Fprintf(&b, "networks:\n  %s:\n    external: true\n", Network)
	return b.String()
}

// composeQuote is s as a quoted YAML string that compose reads as s: its
// '$' doubled, as compose takes $NAME for a variable of its own (a profile
// team$prod was asked for as team).
func composeQuote(s string) string {
	return strconv.Quote(strings.ReplaceAll(s, "$", "$$"))
}

// RunOptions is what brokerd reads in the arguments a person gives docker
// run: the options before the image, and the image.
type RunOptions struct {
	User       string // --user, "" when not given
	Name       string // --name, "" when not given
	Detach     bool
	Privileged bool
	// Restart is the --restart policy, "" when not given.
	Restart string
	Image   string
	// CapDrop and CapAdd are the capabilities --cap-drop and --cap-add
	// name.
	CapDrop, CapAdd []string
	// Given are the options that brokerd sets itself and that the
	// arguments set too, such as --network.
	Given []string
	// Networks are the values of --network (and --net).
	Networks []string
	// Regions are the values that the options give AWS_REGION and
	// AWS_DEFAULT_REGION, as docker resolves them: an -e over an
	// --env-file, whatever their order, the last -e of each; a variable
	// named without a value takes this process's (docker's environment),
	// and is left out when that has none.
	Regions map[string]string
	// Env are the names of the variables the options set (-e, --env-file),
	// those taken from docker's environment only when it has them.
	Env []string
}

// Restarts reports whether the engine starts the container again when it
// exits (a --restart policy other than no), after docker run has returned.
func (o RunOptions) Restarts() bool {
	policy, _, _ := strings.Cut(o.Restart, ":")
	return policy != "" && policy != "no"
}

// AddsNetRaw reports whether the options give the container CAP_NET_RAW
// themselves: --cap-add NET_RAW or ALL, or --privileged.
func (o RunOptions) AddsNetRaw() bool {
	return o.Privileged || slices.ContainsFunc(o.CapAdd, func(c string) bool {
		c = CapName(c)
		return c == "ALL" || c == "NET_RAW"
	})
}

// Spoofing are the options that let the container pose as another address
// on brokerd's network, the relay's 169.254.170.2 included: CAP_NET_RAW
// forges ARP answers, CAP_NET_ADMIN gives its interface another address,
// --privileged has both. Each is named as given ("--cap-add net_raw").
func (o RunOptions) Spoofing() []string {
	var out []string
	if o.Privileged {
		out = append(out, "--privileged")
	}
	for _, c := range o.CapAdd {
		switch CapName(c) {
		case "ALL", "NET_RAW", "NET_ADMIN":
			out = append(out, "--cap-add "+c)
		}
	}
	return out
}

// CapName is a capability as docker reads it: upper case, without CAP_.
func CapName(c string) string {
	return strings.TrimPrefix(strings.ToUpper(c), "CAP_")
}

// Region is the region to give the container in AWS_REGION and
// AWS_DEFAULT_REGION: the one the options set in either, so that both
// agree (docker takes a later -e of a variable over brokerd's, an
// --env-file's never, and SDKs read one or the other: botocore
// AWS_DEFAULT_REGION, Go and JS AWS_REGION first); else profileRegion.
// own reports that the options set one; region is then "" when they set
// both, which stand as given.
func (o RunOptions) Region(profileRegion string) (region string, own bool) {
	r, hasR := o.Regions[wire.VarRegion]
	d, hasD := o.Regions[wire.VarDefRegion]
	switch {
	case hasR && hasD:
		return "", true
	case hasR:
		return r, true
	case hasD:
		return d, true
	}
	return profileRegion, false
}

// runBools are docker run's options that take no value.
var runBools = map[string]bool{
	"--detach": true, "--interactive": true, "--tty": true, "--rm": true, "--init": true, "--privileged": true,
	"--publish-all": true, "--read-only": true, "--no-healthcheck": true, "--oom-kill-disable": true,
	"--disable-content-trust": true, "--quiet": true, "--help": true, "--sig-proxy": true, "--use-api-socket": true,
}

// shortBools are the one-letter options that take no value; the others
// (-a -c -e -h -l -m -p -u -v -w) take one.
const shortBools = "diPqt"

// ParseRunArgs reads the options of docker run in args up to the image.
func ParseRunArgs(args []string) (o RunOptions, err error) {
	fromFlags, fromFiles := map[string]string{}, map[string]string{}
	region := func(set map[string]string, kv string) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			v, ok = os.LookupEnv(k)
		}
		if ok && !slices.Contains(o.Env, k) {
			o.Env = append(o.Env, k)
		}
		if k != wire.VarRegion && k != wire.VarDefRegion {
			return
		}
		if !ok {
			delete(set, k) // docker leaves it out
			return
		}
		set[k] = v
	}
	defer func() {
		for k, v := range fromFiles {
			if _, ok := fromFlags[k]; !ok {
				fromFlags[k] = v
			}
		}
		if len(fromFlags) > 0 {
			o.Regions = fromFlags
		}
	}()
	note := func(name, value string) error {
		switch name {
		case "--user", "-u":
			o.User = value
		case "--name":
			o.Name = value
		case "--detach", "-d":
			o.Detach = value == "" || value == "true"
		case "--privileged":
			o.Privileged = value == "" || value == "true"
		case "--restart":
			o.Restart = value
		case "--cap-drop":
			o.CapDrop = append(o.CapDrop, value)
		case "--cap-add":
			o.CapAdd = append(o.CapAdd, value)
		case "--network", "--net":
			o.Given = append(o.Given, name)
			o.Networks = append(o.Networks, value)
		case "--cidfile":
			o.Given = append(o.Given, name)
		case "--env", "-e":
			k, _, _ := strings.Cut(value, "=")
			if strings.HasPrefix(k, "AWS_CONTAINER_") {
				o.Given = append(o.Given, name+" "+k)
			}
			region(fromFlags, value)
		case "--env-file":
			for _, kv := range envFile(value) {
				if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_CONTAINER_") {
					o.Given = append(o.Given, k+" (in --env-file "+value+")")
				}
				region(fromFiles, kv)
			}
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			i++
			if i < len(args) {
				o.Image = args[i]
			}
			return o, nil
		case strings.HasPrefix(a, "--"):
			name, value, inline := strings.Cut(a, "=")
			if !inline && !runBools[name] {
				i++
				if i >= len(args) {
					return o, fmt.Errorf("docker run option %s needs a value", name)
				}
				value = args[i]
			}
			note(name, value)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				l := a[j]
				if strings.IndexByte(shortBools, l) >= 0 {
					note("-"+string(l), "")
					continue
				}
				value := a[j+1:]
				if value == "" {
					i++
					if i >= len(args) {
						return o, fmt.Errorf("docker run option -%c needs a value", l)
					}
					value = args[i]
				}
				note("-"+string(l), strings.TrimPrefix(value, "="))
				break
			}
		default:
			o.Image = a
			return o, nil
		}
	}
	return o, errors.New("name the image to run: brokerd docker run PROFILE -- [DOCKER RUN OPTIONS] IMAGE [COMMAND]")
}

// envFile is what docker's env file at path sets, a KEY=VALUE or a KEY
// (taken from docker's environment) a line; none when it cannot be read,
// which docker then reports. Comments and blank lines are skipped.
func envFile(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var vars []string
	for _, line := range strings.Split(strings.TrimPrefix(string(b), "\ufeff"), "\n") {
		line = strings.TrimSuffix(strings.TrimLeft(line, " \t"), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if ok {
			k += "=" + v
		}
		vars = append(vars, k)
	}
	return vars
}
