package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/daemon"
	"github.com/brokerd/brokerd/docker"
	"github.com/brokerd/brokerd/tokens"
	"github.com/brokerd/brokerd/wire"
)

func (e *env) dockerReissueCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reissue [CONTAINER...]",
		Short: "Give containers whose token file a reboot or logout removed a new token in place, so that docker start works again",
		Long: "Token files live in the state directory, which a reboot or a logout empties: a container that mounts\n" +
			"one then cannot start again (docker: bind source path does not exist). reissue writes a new token at\n" +
			"the path the container's mount names, for the profiles it had: those its label " + docker.ScopeLabel + " records\n" +
			"(brokerd docker run and docker token set it), else the one its credentials URL names, with the lifetime\n" +
			"it was given (default 12h). Then docker start CONTAINER: the engine, which failed to start it at boot,\n" +
			"does not try again by itself. After the next reboot the file is gone again: reissue again.\n\n" +
			"With no CONTAINER, every container with a restart policy that lost its token. A container that holds\n" +
			"its token in its environment (--token-env) cannot be given another: it must be made again.",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir, err := stateDir()
			if err != nil {
				return err
			}
			client := control.NewClient(dir)
			st, err := client.Status(ctx)
			if err != nil {
				return err
			}
			r := docker.CLI{}
			if err := docker.CheckNetwork(ctx, r); err != nil {
				return err
			}
			// The relay is stopped after a reboot: the containers would
			// start, and get no answer.
			did, err := docker.StartRelay(ctx, r, dir.Join(daemon.RelayDir))
			if did != "" {
				fmt.Fprintf(e.stderr, "brokerd: %s the relay container %s\n", did, docker.RelayName)
			}
			if err != nil {
				return err
			}
			var cs []docker.Container
			var findErr error
			if len(args) == 0 {
				cs, findErr = docker.LostTokens(ctx, r, heldIn(st))
			} else {
				cs, findErr = docker.Containers(ctx, r, args)
			}
			if len(cs) == 0 && findErr != nil {
				return findErr
			}
			if len(cs) == 0 {
				fmt.Fprintln(e.stdout, "no container with a restart policy has lost its token")
				return nil
			}
			failed := reissue(ctx, r, client, cs, os.Getuid(), e.stdout, e.stderr)
			switch {
			case findErr != nil:
				return findErr
			case failed > 0:
				return exitCode{code: 1}
			}
			return nil
		},
	}
}

// heldIn reports whether the daemon of st holds the token of an id.
func heldIn(st control.Status) func(id string) bool {
	return func(id string) bool {
		for _, t := range st.Containers {
			if t.ID == id {
				return true
			}
		}
		return false
	}
}

// reissuer is what brokerd docker reissue asks of the daemon.
type reissuer interface {
	ReissueToken(ctx context.Context, req control.ReissueRequest) (control.IssuedToken, error)
}

var _ reissuer = (*control.Client)(nil)

// reissue gives each of cs whose token file is gone a new token where its
// mount names the file, and says on out, a line each, what it did or
// why it could not, with what to do; notes go to errw. self is this
// process's uid. It returns how many of cs were left without a token.
func reissue(ctx context.Context, r docker.Runner, d reissuer, cs []docker.Container, self int, out, errw io.Writer) (failed int) {
	for _, c := range cs {
		switch {
		case c.TokenEnv:
			fmt.Fprintf(out, "container %s holds its token in its environment, which cannot be changed in place: make it again: %s\n", c.Name, c.Remake())
			failed++
			continue
		case c.TokenFile == "":
			fmt.Fprintf(out, "container %s has no token of brokerd's (no file mounted at %s): make it with brokerd docker run\n", c.Name, docker.TokenFile)
			failed++
			continue
		case !c.Gone:
			fmt.Fprintf(out, "container %s has its token file: nothing to do (a token refused as expired or revoked needs the container made again: %s)\n", c.Name, c.Remake())
			continue
		case len(c.Profiles()) == 0:
			fmt.Fprintf(out, "container %s names no profile in its credentials URL: make it again: %s\n", c.Name, c.Remake())
			failed++
			continue
		}
		label, ttl := tokens.LabelFrom(c.Name), 0
		if s := c.Scope; s != nil {
			label, ttl = s.Label, s.TTLSeconds
		} else {
			why := "it has no label " + docker.ScopeLabel + " (made by a brokerd before reissue)"
			if c.Untrusted != "" {
				why = c.Untrusted
			}
			fmt.Fprintf(errw, "brokerd: container %s gets profile %s alone, which its credentials URL names, with the default lifetime: %s; for --also profiles, make it again: %s\n",
				c.Name, c.Profile, why, c.Remake())
		}
		opts := docker.RunOptions{User: c.User, CapDrop: c.CapDrop, CapAdd: c.CapAdd}
		tok, err := d.ReissueToken(ctx, control.ReissueRequest{TokenFile: c.TokenFile, ContainerID: c.ID, Label: label,
			Profiles: c.Profiles(), TTLSeconds: ttl, ReaderUID: readerUID(ctx, r, opts, self)})
		if err != nil {
			fmt.Fprintf(out, "container %s: %v\n", c.Name, err)
			failed++
			continue
		}
		next := "start it: docker start " + wire.ShellQuote(c.Name)
		if c.Running {
			next = "it runs with the removed file: docker restart " + wire.ShellQuote(c.Name)
		}
		fmt.Fprintf(out, "container %s: new token %s (label %s) for %s, until %s; %s\n", c.Name, tok.ID, tok.Label,
			strings.Join(tok.Profiles, ", "), tok.Expires.Local().Format(time.DateTime), next)
		if tok.Note != "" {
			fmt.Fprintf(errw, "brokerd: %s\n", tok.Note)
		}
	}
	return failed
}
