// Command flagops is the flagops server and command line. It is wiring only:
// everything happens in package cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/flagops/flagops/cli"
)

func main() {
	// SIGINT and SIGTERM cancel the context: serve shuts down gracefully and
	// watch ends its stream.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
