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
// marshaler. Nothing is lost, on three conditions that gqlseq checks: the
// field takes no arguments (its field context is a bare scalar one); its
// marshaler is one of neverNull, which cannot fail, so no error needs the
// field's path (graph's tests check each); and the read cannot panic (obj is
// never nil there). The fourth, that no field middleware but resolver-only
// tracing is installed, graph.NewHandler enforces. Any other field keeps
// gqlgen's path.
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

// plainScalar is gqlgen's code for a field of an ent type that is a struct
// read: 1 is the function's header, 2 its field context, 3 the struct
// field, 4 the marshaler.
var plainScalar = regexp.MustCompile(`(func \(ec \*executionContext\) _\w+\(ctx context\.Context, field graphql\.CollectedField, obj \*ent\.\w+\) \(ret graphql\.Marshaler\) \{)
	return graphql\.ResolveField\(
		ctx,
		ec\.OperationContext,
		field,
		func\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{
			return ec\.(fieldContext_\w+)\(ctx, field\)
		\},
		func\(ctx context\.Context\) \(any, error\) \{
			return obj\.(\w+), nil
		\},
		nil,
		func\(ctx context\.Context, selections ast\.SelectionSet, v [^)]+\) graphql\.Marshaler \{
			return ec\.(marshal[^(]+)\(ctx, selections, v\)
		\},
		true,
		(?:true|false),
	\)
\}`)

// neverNull are the marshalers that cannot return graphql.Null for a value
// (marshalOString2ᚖstring returns it for nil, the nullable field's answer,
// with no error). graph/slice_test.go checks each.
var neverNull = map[string]bool{
	"marshalNBoolean2bool":                          true,
	"marshalNCursor2entgoᚗioᚋcontribᚋentgqlᚐCursor": true,
	"marshalNID2githubᚗcomᚋgoogleᚋuuidᚐUUID":        true,
	"marshalNInt2int":                               true,
	"marshalNString2string":                         true,
	"marshalNTime2timeᚐTime":                        true,
	"marshalOString2ᚖstring":                        true,
}

const plainScalarMark = "// gqlseq: a struct read"

// bareScalarContext is the field context of a scalar field without
// arguments; %s is the function's name.
const bareScalarContext = `func (ec *executionContext) %s(_ context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	return graphql.NewScalarFieldContext(`

// rewritePlainScalars replaces each struct-read field that meets the
// conditions above with a direct call of its marshaler, and reports how many.
func rewritePlainScalars(src []byte) ([]byte, int) {
	n := 0
	out := plainScalar.ReplaceAllFunc(src, func(m []byte) []byte {
		g := plainScalar.FindSubmatch(m)
		header, fieldContext, field, marshal := g[1], string(g[2]), g[3], string(g[4])
		if !neverNull[marshal] || !bytes.Contains(src, fmt.Appendf(nil, bareScalarContext, fieldContext)) {
			return m
		}
		n++
		return fmt.Appendf(nil, "%s\n\treturn ec.%s(ctx, field.Selections, obj.%s) %s\n}", header, marshal, field, plainScalarMark)
	})
	return out, n
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
	src, n := rewritePlainScalars(src)
	if n == 0 && !bytes.Contains(src, []byte(plainScalarMark)) {
		return fmt.Errorf("%s has no scalar field read through graphql.ResolveField: has gqlgen changed what it generates?", path)
	}
	return os.WriteFile(path, src, 0o644)
}
