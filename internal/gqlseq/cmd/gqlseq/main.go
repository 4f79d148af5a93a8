// Command gqlseq rewrites the exec file gqlgen just wrote in place (see
// package gqlseq). It runs from generate.go, right after gqlgen:
//
//	go run ./internal/gqlseq/cmd/gqlseq graph/generated.go
//
// ent's types are plain structs: their scalar fields are read directly.
package main

import (
	"fmt"
	"os"

	"github.com/taskapi/server/internal/gqlseq"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlseq graph/generated.go")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gqlseq:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, _, err := gqlseq.Rewrite(src, gqlseq.Options{StructPackages: []string{"ent"}})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}
