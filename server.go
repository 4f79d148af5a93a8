// Command server is the multi-user task GraphQL API.
//
//	go run .                      serve (SQLite and a development secret without configuration)
//	go run . migrate              apply pending migrations and exit
//	go run . token --sub alice    print a token signed with BETTER_AUTH_SECRET
//	go run . version              print the module version and VCS revision
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// One problem a line (configuration reports them all), each
		// with the prefix, so that each line found alone in a log says
		// where it comes from.
		for line := range strings.Lines(err.Error()) {
			fmt.Fprintf(os.Stderr, "server: %s", strings.TrimSuffix(line, "\n")+"\n")
		}
		os.Exit(1)
	}
}
