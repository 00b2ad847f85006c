// Package cli implements the agh command line (SPEC §17) with cobra.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/daemon"
)

// usageError marks errors that exit 2.
type usageError struct{ error }

// Main runs the command line and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *daemon.ExitError
	if errors.As(err, &ee) {
		fmt.Fprintln(stderr, "agh:", ee.Err)
		return ee.Code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "agh:", err)
		return 2
	}
	var ae *APIError
	if errors.As(err, &ae) {
		fmt.Fprintln(stderr, "agh:", ae.Message)
		return 1
	}
	fmt.Fprintln(stderr, "agh:", err)
	return 1
}

// NewRoot builds the command tree.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "agh",
		Short:         "Run AI coding agents unattended, durably and safely",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(daemonCmd())
	addClientCommands(root)
	return root
}

func daemonCmd() *cobra.Command {
	var o daemon.Options
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the agh service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Stderr = cmd.ErrOrStderr()
			o.Getenv = os.Getenv
			return daemon.Run(context.Background(), o)
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
