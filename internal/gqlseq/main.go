// Command gqlseq takes two costs out of the code gqlgen generates, both
// paid for every object of every response and both for features this
// server does not use. It runs from generate.go right after gqlgen, on the
// file gqlgen just wrote:
//
//	go run ./internal/gqlseq graph/generated.go
//
// graphql.MarshalSliceConcurrently starts a goroutine per list element; the
// calls go to graph's sequential marshalSlice instead (graph/slice.go says
// why). graphql.NewDeferredGroup builds @defer bookkeeping (a path, a field
// set, a map) for each object; it is left empty.
//
// Both are right only while no field below the root has a resolver of its
// own: such a field would run once per list element, in turn, and would be
// the one place @defer takes effect. gqlgen generates such a field as
// out.ResolveConcurrently(…, &deferred, …); gqlseq refuses a file that has
// one, and fails too if gqlgen's output stops matching, rather than leave the
// costs in or break a field silently.
package main

import (
	"bytes"
	"fmt"
	"os"
)

type rewrite struct{ from, to []byte }

var rewrites = []rewrite{
	{[]byte("graphql.MarshalSliceConcurrently("), []byte("marshalSlice(")},
	{[]byte("deferred := graphql.NewDeferredGroup(ctx)"), []byte("deferred := graphql.DeferredGroup{}")},
}

// resolving marks generated code for a field below the root with a resolver
// of its own (root fields use ResolveRootConcurrently, which is fine).
var resolving = [][]byte{[]byte("ResolveConcurrently("), []byte("&deferred")}

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
	for _, m := range resolving {
		if bytes.Contains(src, m) {
			return fmt.Errorf("%s has a field below the root with its own resolver (%s): lists would run it once per element and @defer would break; see internal/gqlseq", path, m)
		}
	}
	for _, r := range rewrites {
		switch {
		case bytes.Contains(src, r.from):
			src = bytes.ReplaceAll(src, r.from, r.to)
		case bytes.Contains(src, r.to):
			// already rewritten
		default:
			return fmt.Errorf("%s has neither %q nor %q: has gqlgen changed what it generates?", path, r.from, r.to)
		}
	}
	return os.WriteFile(path, src, 0o644)
}
