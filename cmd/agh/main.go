// Command agh runs AI coding agents unattended: `agh daemon` is the service; every other
// command is a client of its HTTP API.
package main

import (
	"os"

	"github.com/agh-dev/agh/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
