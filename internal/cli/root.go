// Package cli implements the agh command line (SPEC §17) with cobra: `agh daemon` runs the
// service; every other command is a client of its HTTP API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/daemon"
)

// usageError marks errors that exit 2: bad flags, missing arguments, bad flag values.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Main runs the command line and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	var ee *daemon.ExitError
	var ue usageError
	var ae *client.Error
	switch {
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "agh:", ee.Err)
		return ee.Code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "agh:", err)
		return 2
	case errors.As(err, &ae):
		fmt.Fprintln(stderr, "agh:", ae.Message)
		return 1
	}
	fmt.Fprintln(stderr, "agh:", err)
	return 1
}

// NewRoot builds the command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{getenv: os.Getenv}
	root := group("agh", "Run AI coding agents unattended, durably and safely",
		daemonCmd(),
		a.bind(group("automation", "Manage jobs, triggers and runs", jobsCmd(a), triggersCmd(a), runsCmd(a))),
		a.bind(webhookCmd(a)),
		a.bind(eventsCmd(a)),
		a.bind(tasksCmd(a)),
		a.bind(workspacesCmd(a)),
		a.bind(agentsCmd(a)),
		a.bind(statusCmd(a)),
	)
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	return root
}

// group is a command that only holds subcommands: without one it prints its help and exits 2.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], c.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(c.ErrOrStderr())
			_ = c.Help()
			return usagef("missing subcommand (see %s --help)", c.CommandPath())
		},
	}
	c.AddCommand(subs...)
	return c
}

// nArgs accepts exactly n positional arguments; anything else is a usage error.
func nArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expected %d argument(s), got %d (usage: %s)", n, len(args), c.UseLine())
		}
		return nil
	}
}

func daemonCmd() *cobra.Command {
	var o daemon.Options
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the agh service",
		Args:  nArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Stderr = cmd.ErrOrStderr()
			o.Getenv = os.Getenv
			return daemon.Run(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "configuration file (default <data-dir>/config.toml)")
	f.StringVar(&o.DataDir, "data-dir", "", "data directory (default $AGH_HOME or ~/.agh)")
	f.StringVar(&o.Addr, "addr", "", "HTTP listen address (overrides http.addr)")
	f.StringVar(&o.StoreURL, "store", "", "store URL (overrides store.url)")
	f.StringVar(&o.LogLevel, "log-level", "", "log level: debug, info, warn, error")
	return c
}
