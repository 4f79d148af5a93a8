package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
)

// budget holds each request to its Limits before anything runs. Its
// checks split where gqlgen's pipeline does:
//
//   - before parsing and validation (an OperationParameterMutator, after
//     APQ has put the text in place): tokens, then the document's shape,
//     counted in one linear pass and cached by text;
//   - after validation, with the variables (an OperationContextMutator):
//     the cost, then the input budget in bytes × uses.
type budget struct {
	lim           Limits
	introspection bool
	shapes        *otter.Cache[string, *shape]
}

const budgetStats = "Budget"

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = (*budget)(nil)

// shapeCacheBytes bounds the memory of cached shapes (the query texts are
// shared with gqlgen's document cache).
const shapeCacheBytes = 16 << 20

func newBudget(lim Limits, introspection bool) *budget {
	return &budget{
		lim:           lim,
		introspection: introspection,
		shapes: otter.Must(&otter.Options[string, *shape]{
			MaximumWeight: shapeCacheBytes,
			Weigher: func(q string, s *shape) uint32 {
				return uint32(min(len(q)+64*len(s.uses)+128, 1<<31))
			},
		}),
	}
}

func (*budget) ExtensionName() string                   { return budgetStats }
func (*budget) Validate(graphql.ExecutableSchema) error { return nil }

func (b *budget) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil // gqlgen answers that there is no operation
	}
	s, ok := b.shapes.GetIfPresent(p.Query)
	if !ok {
		var err *gqlerror.Error
		if s, err = measure(p.Query, b.lim); err != nil {
			return err
		}
		b.shapes.Set(p.Query, s)
	}
	if s.introspection && !b.introspection {
		return &gqlerror.Error{
			Message:    "introspection (__schema, __type) is turned off on this server",
			Extensions: map[string]any{"code": gqlerr.IntrospectionDisabled},
		}
	}
	graphql.GetOperationContext(ctx).Stats.SetExtension(budgetStats, s)
	return nil
}

func (b *budget) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	s, _ := oc.Stats.GetExtension(budgetStats).(*shape)
	if s == nil {
		// Not measured before parsing (cannot happen through our
		// transport): measure the text now, still before anything runs.
		var err *gqlerror.Error
		if s, err = measure(oc.RawQuery, b.lim); err != nil {
			return err
		}
	}
	if n := cost(oc.Operation, oc.Variables); n > b.lim.Cost {
		return gqlerr.LimitError(gqlerr.ComplexityLimit, b.lim.Cost,
			fmt.Sprintf("the operation costs %s; at most %d is allowed (each field 1, a page's edges times its size, each SQL statement %d)", count(n), b.lim.Cost, StatementCost))
	}
	in := s.literal
	for name, k := range s.uses {
		if v, ok := oc.Variables[name]; ok {
			in = in.plus(weigh(v).times(k))
		}
	}
	switch {
	case in.bytes > b.lim.InputBytes:
		return gqlerr.LimitError(gqlerr.InputLimit, b.lim.InputBytes,
			fmt.Sprintf("the operation's arguments hold %s bytes once each use of a variable or fragment is counted; at most %d are allowed", count(in.bytes), b.lim.InputBytes))
	case in.values > b.lim.InputValues:
		return gqlerr.LimitError(gqlerr.InputLimit, b.lim.InputValues,
			fmt.Sprintf("the operation's arguments hold %s values once each use of a variable or fragment is counted; at most %d are allowed", count(in.values), b.lim.InputValues))
	}
	return nil
}
