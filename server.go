// Command server is the multi-user task GraphQL API.
//
//	go run .                      serve (SQLite and a development secret without configuration)
//	go run . migrate              apply pending migrations and exit
//	go run . token --sub alice    print a token signed with BETTER_AUTH_SECRET
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
}
