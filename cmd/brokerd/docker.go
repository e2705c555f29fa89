package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/daemon"
	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/doctor"
	"github.com/brokerd/brokerd/relay"
	"github.com/brokerd/brokerd/state"
	"github.com/brokerd/brokerd/tokens"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) dockerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docker",
		Short: "Give Docker containers credentials, each with a token scoped to its profiles",
		Long: "Containers on brokerd's Docker network (" + docker.Subnet + ") reach a relay at " + wire.RelayAddr + ",\n" +
			"which forwards their credentials requests to the daemon. Each container gets its own token, scoped to\n" +
			"the profiles it names, with an expiry; brokerd audit shows which container fetched what.\n\n" +
			"  brokerd docker setup                          # once: the network and the relay container\n" +
			"  brokerd docker run prod -- --rm my/app        # docker run with prod's credentials\n" +
			"  brokerd docker token prod                     # the docker run options, for scripts and compose\n" +
			"  brokerd docker revoke LABEL|ID                # end a token before its expiry\n" +
			"  brokerd docker reissue                        # after a reboot: new tokens for the containers that lost theirs",
	}
	cmd.AddCommand(e.dockerSetupCmd(), e.dockerRunCmd(), e.dockerTokenCmd(), e.dockerRevokeCmd(), e.dockerReissueCmd(), e.dockerTeardownCmd())
	return cmd
}

func (e *env) dockerSetupCmd() *cobra.Command {
	var binary, upstream string
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create brokerd's Docker network and start the relay container (again after an upgrade of brokerd)",
		Long: "Create the network " + docker.Network + " (" + docker.Subnet + ", gateway " + docker.Gateway + ") unless it exists, build the\n" +
			"relay image FROM scratch from this brokerd binary (it must be static: CGO_ENABLED=0), and start the relay\n" +
			"container at " + wire.RelayAddr + " on it, running as your user with the daemon's relay socket mounted.\n" +
			"Nothing is pulled from a registry. Run it again after upgrading brokerd: it replaces an outdated relay.\n\n" +
			"Docker Desktop (macOS) cannot mount the socket: there the relay reaches the daemon's port through\n" +
			"host.docker.internal (--upstream http://host.docker.internal:PORT, chosen by itself), the daemon must\n" +
			"serve it there (brokerd serve --relay-on-loopback, the default on macOS), and --binary must name a\n" +
			"Linux build of brokerd (GOOS=linux CGO_ENABLED=0 go build ./cmd/brokerd). Docker Desktop is not\n" +
			"verified by brokerd's tests.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Before anything is replaced: a relay given a wrong upstream
			// would only restart over and over.
			if upstream != "" {
				if err := relay.CheckUpstream(upstream); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			dir, err := stateDir()
			if err != nil {
				return err
			}
			ep, err := dir.Endpoint()
			if err != nil {
				return err
			}
			r := docker.CLI{}
			eng, err := docker.Inspect(ctx, r)
			if err != nil {
				return err
			}
			if binary == "" {
				if binary, err = os.Executable(); err != nil {
					return fmt.Errorf("find brokerd's binary: %w; pass --binary", err)
				}
			}
			if err := docker.CheckBinary(binary, eng.Arch); err != nil {
				return err
			}
			tag, err := docker.ImageTag(binary)
			if err != nil {
				return err
			}
			rl := docker.Relay{Image: tag, HostDir: dir.Join(daemon.RelayDir), User: fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())}
			if eng.Rootless {
				rl.User = "0:0" // the root of a rootless engine is this user
			}
			if upstream == "" && (eng.Desktop || runtime.GOOS == "darwin") {
				upstream = "http://host.docker.internal:" + portOf(ep.URL)
			}
			if upstream != "" {
				rl.HostDir, rl.Upstream = "", upstream
			} else if _, err := os.Stat(filepath.Join(rl.HostDir, docker.SocketName)); err != nil {
				return fmt.Errorf("the daemon has no relay socket at %s: restart brokerd (a brokerd older than docker support is running?)", filepath.Join(rl.HostDir, docker.SocketName))
			}
			created, err := docker.EnsureNetwork(ctx, r)
			if err != nil {
				return err
			}
			say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
			if created {
				say("network %s: created (%s)", docker.Network, docker.Subnet)
			} else {
				say("network %s: exists (%s)", docker.Network, docker.Subnet)
			}
			built, err := docker.EnsureImage(ctx, r, binary, tag)
			if err != nil {
				return err
			}
			if built {
				say("image %s: built from %s", tag, binary)
			} else {
				say("image %s: exists", tag)
			}
			did, err := docker.EnsureRelay(ctx, r, rl)
			if err != nil {
				return err
			}
			say("relay %s at %s: %s", docker.RelayName, wire.RelayAddr, did)
			warnLost(ctx, r, dir, e.stderr)
			if err := docker.Probe(ctx, r, tag, 10*time.Second); err != nil {
				if did != "running" {
					return err
				}
				// A relay that runs since before the state directory was
				// made again (a login after a reboot) holds the old one.
				say("relay %s: restarted (%v)", docker.RelayName, err)
				if _, err := r.Docker(ctx, "restart", docker.RelayName); err != nil {
					return err
				}
				if err := docker.Probe(ctx, r, tag, 10*time.Second); err != nil {
					return err
				}
			}
			say("a container on network %s reaches brokerd through the relay", docker.Network)
			say("next: brokerd docker run PROFILE -- [docker run options] IMAGE")
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "static Linux brokerd to build the relay image from (default: this binary)")
	cmd.Flags().StringVar(&upstream, "upstream", "", "the daemon's port as containers reach it, for engines that cannot mount the socket (default on Docker Desktop: http://host.docker.internal:PORT)")
	return cmd
}

// portOf is the port of an endpoint URL, http://127.0.0.1:PORT.
func portOf(url string) string {
	return url[strings.LastIndexByte(url, ':')+1:]
}

// tokenFlags are the options of a container token.
type tokenFlags struct {
	label string
	also  []string
	ttl   time.Duration
}

func (f *tokenFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.label, "label", "", "the token's name in status and the audit log (default: the container's --name, the image or the profile)")
	cmd.Flags().StringArrayVar(&f.also, "also", nil, "another profile the container may fetch (repeatable); its URL names the first")
	cmd.Flags().DurationVar(&f.ttl, "ttl", 0, "the token's lifetime, 1s to 168h (default 12h)")
}

func (f *tokenFlags) request(profile, label string) (control.TokenRequest, error) {
	if f.label != "" {
		label = f.label
	} else {
		label = tokens.LabelFrom(label)
	}
	if f.ttl < 0 || f.ttl%time.Second != 0 {
		return control.TokenRequest{}, fmt.Errorf("--ttl %v: give whole seconds, 1s to 168h", f.ttl)
	}
	return control.TokenRequest{Label: label, Profiles: append([]string{profile}, f.also...), TTLSeconds: int(f.ttl / time.Second)}, nil
}

func (e *env) dockerTokenCmd() *cobra.Command {
	var flags tokenFlags
	var format string
	cmd := &cobra.Command{
		Use:   "token PROFILE",
		Short: "Make a container token and print the docker run options (or compose fragment) that use it",
		Long: "Make a container token for PROFILE and print what a container needs: --network, the endpoint's URL at\n" +
			"the relay, the token file's mount and its variable, and the region. One token is for one container\n" +
			"(the options include a --cidfile that names it in the audit log); --format compose prints a fragment\n" +
			"for a compose service instead.\n\n" +
			"  docker run $(brokerd docker token prod) my/app                  # paths without spaces\n" +
			"  mapfile -t opts < <(brokerd docker token prod --format lines) && docker run \"${opts[@]}\" my/app",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "args", "lines", "compose", "json":
			default:
				return fmt.Errorf("--format %q: want args, lines, compose or json", format)
			}
			dir, err := stateDir()
			if err != nil {
				return err
			}
			if err := relayReady(cmd.Context(), docker.CLI{}, dir, e.stderr); err != nil {
				return err
			}
			req, err := flags.request(args[0], args[0])
			if err != nil {
				return err
			}
			req.CIDFile = format != "compose"
			tok, err := control.NewClient(dir).IssueToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			c := docker.Client{Profile: args[0], HostTokenFile: tok.TokenFile, CIDFile: tok.CIDFile, Region: tok.Region, Scope: scopeOf(tok, req)}
			switch format {
			case "args":
				fmt.Fprintln(e.stdout, wire.ShellJoin(c.Args()))
			case "lines":
				for _, a := range c.Args() {
					fmt.Fprintln(e.stdout, a)
				}
			case "compose":
				fmt.Fprint(e.stdout, c.Compose(tok.Label))
			case "json":
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					control.IssuedToken
					Args []string `json:"docker_run_args"`
				}{tok, c.Args()}); err != nil {
					return err
				}
			}
			tokenNote(e.stderr, tok)
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().StringVar(&format, "format", "args", "args (one line), lines (one option a line), compose or json")
	return cmd
}

// scopeOf is what tok was made for, as req asked, for the container's
// label docker.ScopeLabel: brokerd docker reissue gives the same again.
func scopeOf(tok control.IssuedToken, req control.TokenRequest) *docker.Scope {
	return &docker.Scope{ID: tok.ID, Label: tok.Label, Profiles: tok.Profiles, TTLSeconds: req.TTLSeconds}
}

// tokenNote tells on stderr what token was made.
func tokenNote(w io.Writer, tok control.IssuedToken) {
	fmt.Fprintf(w, "brokerd: container token %s (label %s) for %s, until %s; end it early with brokerd docker revoke %s\n",
		tok.ID, tok.Label, strings.Join(tok.Profiles, ", "), tok.Expires.Local().Format(time.DateTime), tok.ID)
	if tok.Region == "" {
		fmt.Fprintf(w, "brokerd: profile %s sets no region: give the container AWS_REGION\n", tok.Profiles[0])
	}
	if tok.Note != "" {
		fmt.Fprintf(w, "brokerd: %s\n", tok.Note)
	}
}

func (e *env) dockerRunCmd() *cobra.Command {
	var flags tokenFlags
	var tokenEnv bool
	cmd := &cobra.Command{
		Use:   "run PROFILE -- [DOCKER RUN OPTIONS] IMAGE [COMMAND...]",
		Short: "docker run with PROFILE's credentials, through a token made for this container and revoked when it ends",
		Long: "Run docker run with the options that give the container PROFILE's credentials (brokerd's network, the\n" +
			"endpoint's URL at the relay, a token file mounted read-only, the region) and drop CAP_NET_RAW, with which\n" +
			"a container could pose as the relay, unless your options add it back; then your options. The token\n" +
			"is made for this container alone and revoked when docker run returns; with --detach it lasts until its\n" +
			"expiry (--ttl) or brokerd docker revoke. docker's exit code is brokerd's.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: brokerd docker run PROFILE -- [DOCKER RUN OPTIONS] IMAGE [COMMAND...]")
			}
			return e.dockerRun(cmd.Context(), args[0], args[1:], &flags, tokenEnv)
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&tokenEnv, "token-env", false, "pass the token in AWS_CONTAINER_AUTHORIZATION_TOKEN instead of a mounted file (for SDKs older than the token file, or users that cannot read it)")
	return cmd
}

func (e *env) dockerRun(ctx context.Context, profile string, runArgs []string, flags *tokenFlags, tokenEnv bool) error {
	opts, err := docker.ParseRunArgs(runArgs)
	if err != nil {
		return err
	}
	if len(opts.Given) > 0 {
		return givenError(profile, opts)
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	r := docker.CLI{}
	if err := relayReady(ctx, r, dir, e.stderr); err != nil {
		return err
	}
	label := opts.Image
	if i := strings.LastIndexAny(label, "/"); i >= 0 {
		label = label[i+1:]
	}
	label, _, _ = strings.Cut(label, ":")
	label, _, _ = strings.Cut(label, "@")
	if opts.Name != "" {
		label = opts.Name
	}
	req, err := flags.request(profile, label)
	if err != nil {
		return err
	}
	req.CIDFile = true
	if !tokenEnv {
		req.ReaderUID = readerUID(ctx, r, opts, os.Getuid())
	}
	client := control.NewClient(dir)
	tok, err := client.IssueToken(ctx, req)
	if err != nil {
		return err
	}
	revoke := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.RevokeTokens(ctx, control.RevokeRequest{Match: tok.ID}); err != nil {
			fmt.Fprintf(e.stderr, "brokerd: could not revoke container token %s: %v; it lasts until %s (brokerd docker revoke %s)\n",
				tok.ID, err, tok.Expires.Local().Format(time.DateTime), tok.ID)
		}
	}
	if vars := shadowing(opts.Env); len(vars) > 0 {
		fmt.Fprintf(e.stderr, "brokerd: %s, set by the docker run options, come before brokerd's endpoint in the SDKs' credential chains: "+
			"the container's SDKs may not use %s's credentials; drop them (an AWS_PROFILE whose profile has credential_source = EcsContainer is fine)\n",
			strings.Join(vars, ", "), profile)
	}
	if spoof := opts.Spoofing(); len(spoof) > 0 {
		fmt.Fprintf(e.stderr, "brokerd: the docker run options (%s) let the container pose as the relay at %s on network %s "+
			"(forging ARP answers, or taking its address) and collect the tokens of the other containers there; drop them unless the container needs them (brokerd drops NET_RAW unless they add it back; ping works without it)\n",
			strings.Join(spoof, ", "), wire.RelayAddr, docker.Network)
	}
	region, own := opts.Region(tok.Region)
	if region == "" && !own {
		fmt.Fprintf(e.stderr, "brokerd: profile %s sets no region: give the container AWS_REGION\n", profile)
	}
	c := docker.Client{Profile: profile, HostTokenFile: tok.TokenFile, CIDFile: tok.CIDFile, Region: region, TokenEnv: tokenEnv,
		KeepNetRaw: opts.AddsNetRaw(), Scope: scopeOf(tok, req)}
	argv := append(append([]string{"run"}, c.Args()...), runArgs...)
	run := exec.Command("docker", argv...)
	run.Stdin, run.Stdout, run.Stderr = os.Stdin, e.stdout, e.stderr
	run.Env = os.Environ()
	if tokenEnv {
		secret, err := os.ReadFile(tok.TokenFile)
		if err != nil {
			revoke()
			return fmt.Errorf("read the token file: %w", err)
		}
		run.Env = append(run.Env, wire.VarToken+"="+string(secret))
	}
	err = runForwarding(run)
	switch {
	case opts.Detach && err == nil:
		fmt.Fprintf(e.stderr, "brokerd: container token %s (label %s) lasts until %s: brokerd docker revoke %s once the container is done\n",
			tok.ID, tok.Label, tok.Expires.Local().Format(time.DateTime), tok.ID)
		return nil
	case opts.Restarts() && created(tok.CIDFile):
		// The engine starts it again after docker run returns: revoked,
		// the token would fail every run after the first.
		fmt.Fprintf(e.stderr, "brokerd: container token %s (label %s) lasts until %s, for the restarts of --restart %s: brokerd docker revoke %s once the container is done\n",
			tok.ID, tok.Label, tok.Expires.Local().Format(time.DateTime), opts.Restart, tok.ID)
	default:
		revoke()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exitCode{code: exit.ExitCode()} // docker said why
	}
	return err
}

// givenError is the refusal of options that brokerd docker run sets
// itself, saying what to do instead: a container must be on brokerd's
// network, where the relay is, and docker run (before Docker 25) puts a
// container on one network only.
func givenError(profile string, opts docker.RunOptions) error {
	for _, n := range opts.Networks {
		switch {
		case n == "host":
			return fmt.Errorf("brokerd docker run puts the container on network %s, where brokerd's relay is: a container on the host's network (--network host) "+
				"cannot reach the relay, and brokerd's loopback endpoint refuses container tokens; drop --network host (publish ports with -p)", docker.Network)
		case n != docker.Network && n != "" && n != "none" && n != "bridge" && n != "default" && !strings.HasPrefix(n, "container:"):
			return fmt.Errorf("brokerd docker run puts the container on network %s, where brokerd's relay is, and docker run (before Docker 25) joins one network only: "+
				"for a container on network %s too, create it with the options brokerd docker token prints, connect it, then start it: "+
				"id=$(docker create $(brokerd docker token %s) [OPTIONS] IMAGE) && docker network connect %s \"$id\" && docker start -a \"$id\"",
				docker.Network, n, wire.ShellQuote(profile), wire.ShellQuote(n))
		}
	}
	return fmt.Errorf("brokerd docker run sets %s itself: drop them from the docker run options", strings.Join(opts.Given, ", "))
}

// shadowing are the variables among names that come before brokerd's
// endpoint in SDKs' credential chains (brokerd exec removes them).
func shadowing(names []string) []string {
	var out []string
	for _, n := range names {
		if slices.Contains(scrubbed, n) && !strings.HasPrefix(n, "AWS_CONTAINER_") {
			out = append(out, n)
		}
	}
	return out
}

// created reports whether docker wrote a container's id to cidfile: it
// created the container.
func created(cidfile string) bool {
	b, err := os.ReadFile(cidfile)
	return err == nil && len(strings.TrimSpace(string(b))) > 0
}

// runForwarding runs docker, passing on to it the signals sent to brokerd,
// once each: brokerd stays to revoke the token when docker ends. In the
// terminal's foreground, docker shares brokerd's process group and gets the
// terminal's Ctrl-C and hangup itself, so brokerd passes on SIGTERM only;
// elsewhere docker gets a group of its own, so that a signal sent to
// brokerd's group reaches it through brokerd alone.
func runForwarding(run *exec.Cmd) error {
	fromTerminal := foreground()
	if !fromTerminal {
		run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := run.Start(); err != nil {
		return fmt.Errorf("start docker: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if !fromTerminal || s == syscall.SIGTERM {
					run.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := run.Wait()
	close(done)
	return err
}

// foreground reports whether brokerd's process group is the foreground one
// of its terminal, whose Ctrl-C and hangup reach every process of it.
func foreground() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer tty.Close()
	pgrp, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// readerUID is who must read the token file in the container: 0 for root
// or this user (mode 0600 serves), a uid, or -1 for a user named but not
// numbered, or a root that cannot read another user's 0600 file when self
// (this process's uid) is not root. It reads --user, else the image's USER.
func readerUID(ctx context.Context, r docker.Runner, opts docker.RunOptions, self int) int {
	user := opts.User
	if user == "" && opts.Image != "" {
		if out, err := r.Docker(ctx, "image", "inspect", "--format", "{{.Config.User}}", opts.Image); err == nil {
			user = strings.TrimSpace(string(out))
		}
	}
	name, _, _ := strings.Cut(user, ":")
	switch name {
	case "", "root", "0":
		if self != 0 && !overridesModes(opts) {
			return -1 // a root without CAP_DAC_OVERRIDE reads only its own files, and others' 0644
		}
		return 0
	}
	uid, err := strconv.Atoi(name)
	if err != nil {
		return -1
	}
	return uid
}

// overridesModes reports whether the container's root keeps
// CAP_DAC_OVERRIDE, which reads files whatever their owner and mode.
func overridesModes(opts docker.RunOptions) bool {
	names := func(caps []string) bool {
		return slices.ContainsFunc(caps, func(c string) bool {
			c = docker.CapName(c)
			return c == "ALL" || c == "DAC_OVERRIDE"
		})
	}
	return !names(opts.CapDrop) || names(opts.CapAdd)
}

func (e *env) dockerRevokeCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "revoke ID|LABEL",
		Short: "Revoke container tokens by id or label (or --all): their containers get no more credentials",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 0) != all {
				return errors.New("name one token (its id or label, see brokerd status), or pass --all")
			}
			dir, err := stateDir()
			if err != nil {
				return err
			}
			req := control.RevokeRequest{All: all}
			if len(args) > 0 {
				req.Match = args[0]
			}
			gone, err := control.NewClient(dir).RevokeTokens(cmd.Context(), req)
			if err != nil {
				return err
			}
			for _, t := range gone {
				fmt.Fprintf(e.stdout, "revoked container token %s (label %s, %s)\n", t.ID, t.Label, strings.Join(t.Profiles, ", "))
			}
			if len(gone) == 0 {
				fmt.Fprintln(e.stdout, "no live container token to revoke")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "revoke every live container token")
	return cmd
}

func (e *env) dockerTeardownCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "teardown",
		Short: "Remove the relay container and brokerd's Docker network (containers on it must be gone)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := docker.Teardown(cmd.Context(), docker.CLI{}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed %s and network %s\n", docker.RelayName, docker.Network)
			return nil
		},
	}
}

// printContainers shows the container tokens for brokerd status: label,
// profiles, expiry, last use, container; never the token.
func printContainers(w io.Writer, ts []control.ContainerToken, now time.Time) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER TOKEN\tLABEL\tPROFILES\tEXPIRES\tLEFT\tLAST USE\tCONTAINER")
	for _, t := range ts {
		left := roundDuration(t.Expires.Sub(now))
		if t.Revoked != nil {
			left = "revoked " + roundDuration(now.Sub(*t.Revoked)) + " ago"
		}
		last := "never"
		if t.LastUsed != nil {
			last = roundDuration(now.Sub(*t.LastUsed)) + " ago"
		}
		cid := "-"
		if t.ContainerID != "" {
			cid = t.ContainerID[:min(12, len(t.ContainerID))]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Label, strings.Join(t.Profiles, ","),
			t.Expires.Local().Format(time.DateTime), left, last, cid)
	}
	tw.Flush()
}

// dockerChecks are doctor's checks of the network and the relay.
func dockerChecks(ctx context.Context, dir state.Dir) []doctor.Check {
	bin, _ := os.Executable()
	checks := doctor.Docker(ctx, doctor.DockerEnv{Docker: docker.CLI{}, State: dir, Binary: bin})
	lost, _ := docker.LostTokens(ctx, docker.CLI{}, heldTokens(ctx, dir)) // doctor.Docker reports docker's errors
	for _, l := range lost {
		checks = append(checks, doctor.Check{Name: "container " + l.Name, Level: doctor.Warn, Message: l.Problem(), Fix: l.Fix()})
	}
	return checks
}

// relayReady checks that brokerd's network exists and starts the relay if
// it is stopped (after a reboot), or restarts it if it holds a relay
// directory of dir's since removed, saying so on w.
func relayReady(ctx context.Context, r docker.Runner, dir state.Dir, w io.Writer) error {
	if err := docker.CheckNetwork(ctx, r); err != nil {
		return err
	}
	did, err := docker.StartRelay(ctx, r, dir.Join(daemon.RelayDir))
	if did != "" {
		fmt.Fprintf(w, "brokerd: %s the relay container %s\n", did, docker.RelayName)
		// The relay was stopped or held a removed directory: after a
		// reboot or a logout, which emptied the state directory.
		warnLost(ctx, r, dir, w)
	}
	return err
}

// warnLost tells on w, a line each, of the containers with a restart
// policy that cannot work again, their token files gone (or their tokens,
// held in their environment, unknown to the daemon of dir), and what to
// do.
func warnLost(ctx context.Context, r docker.Runner, dir state.Dir, w io.Writer) {
	lost, _ := docker.LostTokens(ctx, r, heldTokens(ctx, dir)) // a hint: docker's errors are reported elsewhere
	for _, l := range lost {
		fmt.Fprintf(w, "brokerd: %s; %s\n", l.Problem(), l.Fix())
	}
}

// heldTokens reports whether the daemon of dir holds the container token
// of an id; nil when the daemon does not answer.
func heldTokens(ctx context.Context, dir state.Dir) func(id string) bool {
	client := control.NewClient(dir)
	defer client.Close()
	st, err := client.Status(ctx)
	if err != nil {
		return nil
	}
	return heldIn(st)
}
