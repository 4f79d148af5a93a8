package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSlice marshals a list's elements one after another, in place of
// gqlgen's graphql.MarshalSliceConcurrently, which starts a goroutine per
// element so that resolvers waiting on I/O overlap. go generate
// (internal/gqlseq) points a list's call here only when nothing its elements
// marshal, however deep, calls a resolver: then no element waits on
// anything, and spawning 20 goroutines (and growing their stacks) cost about
// 40% of a page's CPU; see the README's performance section.
func marshalSlice(ctx context.Context, length int, _ int64, omitPanicHandler bool, marshalElement func(context.Context, int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		ctx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		ret[i] = marshalAt(ctx, i, omitPanicHandler, marshalElement)
	}
	return ret
}

// marshalAt marshals element i, turning a panic into an error and a null
// as gqlgen's concurrent version does, unless told not to.
func marshalAt(ctx context.Context, i int, omitPanicHandler bool, marshalElement func(context.Context, int) graphql.Marshaler) graphql.Marshaler {
	if omitPanicHandler {
		return marshalElement(ctx, i)
	}
	return marshalRecovering(ctx, i, marshalElement)
}

func marshalRecovering(ctx context.Context, i int, marshalElement func(context.Context, int) graphql.Marshaler) (m graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			m = graphql.Null
		}
	}()
	return marshalElement(ctx, i)
}

// marshalQuietSlice is marshalSlice for lists whose elements gqlseq found
// written by struct reads alone, none holding on to its context once
// marshalled: the elements share one field context, its index moved on
// from one to the next, instead of three allocations each.
func marshalQuietSlice(ctx context.Context, length int, _ int64, omitPanicHandler bool, marshalElement func(context.Context, int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	var i int
	fc := &graphql.FieldContext{Index: &i}
	ctx = graphql.WithFieldContext(ctx, fc)
	for i = range length {
		fc.Result = nil
		ret[i] = marshalAt(ctx, i, omitPanicHandler, marshalElement)
	}
	return ret
}
