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
// set, a map) for each object; no generated field ever defers (the file is
// checked for one), so the group is left empty.
//
// If gqlgen's output stops matching, gqlseq fails rather than leave the
// costs in silently.
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

// deferring is how generated code files a field under a @defer fragment.
var deferring = []byte("deferred.Defers[")

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
	if bytes.Contains(src, deferring) {
		return fmt.Errorf("%s defers fields (%s): the empty deferred groups would drop them", path, deferring)
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
