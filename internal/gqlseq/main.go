// Command gqlseq takes three costs out of the code gqlgen generates, each
// paid for every object or field of every response. It runs from
// generate.go right after gqlgen, on the file gqlgen just wrote:
//
//	go run ./internal/gqlseq graph/generated.go
//
// graphql.MarshalSliceConcurrently starts a goroutine per list element; the
// calls go to graph's sequential marshalSlice instead (graph/slice.go says
// why). graphql.NewDeferredGroup builds @defer bookkeeping (a path, a field
// set, a map) for each object; it is left empty. Both are right only while no
// field below the root has a resolver of its own: such a field would run once
// per list element, in turn, and would be the one place @defer takes effect.
// gqlgen generates such a field as out.ResolveConcurrently(…, &deferred, …);
// gqlseq refuses a file that has one.
//
// A scalar field of an ent type that is a plain struct read (a task's title,
// say) goes through graphql.ResolveField: a field context, a context, two
// closures, the value boxed twice, a deferred recover and the field
// middleware, around one struct read. It becomes a direct call of the field's
// marshaler. Nothing is lost: the read cannot fail or panic, a scalar has no
// children that would need the field's path, and the one field middleware
// here (tracing) makes spans for resolvers only. Fields with resolvers,
// arguments or object types keep gqlgen's path.
//
// If gqlgen's output stops matching, gqlseq fails rather than leave the costs
// in or break a field silently.
package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
)

type rewrite struct{ from, to []byte }

var rewrites = []rewrite{
	{[]byte("graphql.MarshalSliceConcurrently("), []byte("marshalSlice(")},
	{[]byte("deferred := graphql.NewDeferredGroup(ctx)"), []byte("deferred := graphql.DeferredGroup{}")},
}

// plainScalar is gqlgen's code for a scalar field of an ent type that is a
// struct read: $1 is the function's header, $2 the struct field, $3 the
// marshaler.
var plainScalar = regexp.MustCompile(`(func \(ec \*executionContext\) _\w+\(ctx context\.Context, field graphql\.CollectedField, obj \*ent\.\w+\) \(ret graphql\.Marshaler\) \{)
	return graphql\.ResolveField\(
		ctx,
		ec\.OperationContext,
		field,
		func\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{
			return ec\.fieldContext_\w+\(ctx, field\)
		\},
		func\(ctx context\.Context\) \(any, error\) \{
			return obj\.(\w+), nil
		\},
		nil,
		func\(ctx context\.Context, selections ast\.SelectionSet, v [^)]+\) graphql\.Marshaler \{
			return ec\.(marshal[NO](?:String|ID|Time|Boolean|Int|Cursor)2[^(]+)\(ctx, selections, v\)
		\},
		true,
		(?:true|false),
	\)
\}`)

const (
	plainScalarTo   = "$1\n\treturn ec.$3(ctx, field.Selections, obj.$2) // gqlseq: a struct read\n}"
	plainScalarMark = "// gqlseq: a struct read"
)

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
	if !plainScalar.Match(src) && !bytes.Contains(src, []byte(plainScalarMark)) {
		return fmt.Errorf("%s has no scalar field read through graphql.ResolveField: has gqlgen changed what it generates?", path)
	}
	src = plainScalar.ReplaceAll(src, []byte(plainScalarTo))
	return os.WriteFile(path, src, 0o644)
}
