package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a command line that brokerd cannot take. Its message is
// one line that ends with the usage line of the command.
type usageError struct {
	err error
	cmd *cobra.Command
}

func (u usageError) Error() string {
	line := u.cmd.UseLine()
	if u.cmd.HasAvailableSubCommands() {
		// cobra's line for a group leaves out the command it needs.
		line = u.cmd.CommandPath() + " COMMAND [flags]"
	}
	return u.err.Error() + "; usage: " + line
}

func (u usageError) Unwrap() error { return u.err }

// strict makes every command under root refuse, with its usage line and a
// non-zero exit, what cobra would otherwise let through or answer with
// help and exit 0: wrong arguments or flags, an unknown subcommand, and a
// command that only groups others (`brokerd keys`) given none. Run it
// once all commands are added.
func strict(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err, c} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		switch {
		case c.HasAvailableSubCommands() && !c.Runnable():
			c.Args = needsSubcommand
			c.RunE = func(*cobra.Command, []string) error { return nil } // Args refuses first
		case c.Args != nil:
			check := c.Args
			c.Args = func(c *cobra.Command, args []string) error {
				if err := check(c, args); err != nil {
					switch {
					case strings.Contains(err.Error(), "arg(s)"): // cobra's counts
						err = fmt.Errorf("wrong number of arguments (%d given)", len(args))
					case strings.HasPrefix(err.Error(), "unknown command") && !c.HasAvailableSubCommands():
						// cobra.NoArgs calls an argument a command.
						err = noArguments(c, args)
					}
					return usageError{err, c}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	// `brokerd help frob` showed the help of brokerd and exited 0: cobra
	// finds the root for a topic it does not know.
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() != "help" {
			continue
		}
		show := c.Run
		c.Run = nil
		c.RunE = func(c *cobra.Command, args []string) error {
			if target, rest, err := c.Root().Find(args); err == nil && len(rest) > 0 && target.HasAvailableSubCommands() {
				return needsSubcommand(target, rest)
			}
			show(c, args)
			return nil
		}
	}
}

// noArguments says that c, which takes no arguments, was given args; a
// profile given to a command that takes it as --default-profile is pointed
// there (`brokerd install prod`).
func noArguments(c *cobra.Command, args []string) error {
	msg := fmt.Sprintf("%s takes no arguments (%d given: %s)", subPath(c), len(args), strings.Join(args, " "))
	if f := c.Flags().Lookup("default-profile"); f != nil && len(args) == 1 && !strings.HasPrefix(args[0], "-") {
		msg += fmt.Sprintf(": did you mean --default-profile %s?", args[0])
	}
	return errors.New(msg)
}

// needsSubcommand is the argument check of a command that groups others.
func needsSubcommand(c *cobra.Command, args []string) error {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	list := strings.Join(names, ", ")
	if len(args) == 0 {
		if !c.HasParent() {
			return usageError{fmt.Errorf("give a command: one of %s", list), c}
		}
		return usageError{fmt.Errorf("%s needs a command: one of %s", subPath(c), list), c}
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // as cobra's own unknown-command check
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if c.HasParent() {
		msg += " for " + subPath(c)
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(": did you mean %s?", s[0])
	} else {
		msg += " (commands: " + list + ")"
	}
	return usageError{errors.New(msg), c}
}

// subPath is c's command path without the program's name, which the
// error's "brokerd: " prefix says already: "keys", "docker token".
func subPath(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}
