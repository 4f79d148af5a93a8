// Command gqlseq points gqlgen's generated list marshaling at the package's
// own sequential marshalSlice (graph/slice.go says why). It runs from
// generate.go right after gqlgen, on the file gqlgen just wrote:
//
//	go run ./internal/gqlseq graph/generated.go
package main

import (
	"bytes"
	"fmt"
	"os"
)

var (
	concurrent = []byte("graphql.MarshalSliceConcurrently(")
	sequential = []byte("marshalSlice(")
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlseq graph/generated.go")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gqlseq:", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n := bytes.Count(src, concurrent)
	if n == 0 {
		if bytes.Contains(src, sequential) {
			return nil // already rewritten
		}
		// A gqlgen upgrade renamed or dropped the helper: look again at
		// graph/slice.go rather than silently keep the goroutines.
		return fmt.Errorf("%s has no %s calls: has gqlgen changed how it marshals lists?", path, concurrent)
	}
	return os.WriteFile(path, bytes.ReplaceAll(src, concurrent, sequential), 0o644)
}
