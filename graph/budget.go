package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/scalar"
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
	if len(p.OperationName) > b.lim.NameBytes {
		return nameTooLong(b.lim) // gqlgen's answer would repeat it
	}
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
	if err := checkBuiltins(s, p); err != nil {
		return err
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

// checkBuiltins coerces Int and Boolean variables as our scalars do, before
// gqlparser would: its own check turns 1.5 into "cannot use value 0 as Int"
// and takes "5" for an Int.
func checkBuiltins(s *shape, p *graphql.RawParams) *gqlerror.Error {
	op := p.OperationName
	if op == "" {
		op = s.only
	}
	for _, vd := range s.builtins[op] {
		v, ok := p.Variables[vd.Variable]
		if !ok {
			continue
		}
		if err := coerceBuiltin(vd.Type, v); err != nil {
			err.Extensions["field"] = vd.Variable
			err.Message = "variable $" + vd.Variable + ": " + err.Message
			return err
		}
	}
	return nil
}

func coerceBuiltin(t *ast.Type, v any) *gqlerror.Error {
	if v == nil {
		return nil // null or not: validation's to say
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return coerceBuiltin(t.Elem, v) // one value stands for a list of one
		}
		for _, e := range list {
			if err := coerceBuiltin(t.Elem, e); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if t.NamedType == "Int" {
		_, err = scalar.UnmarshalInt(v)
	} else {
		_, err = scalar.UnmarshalBoolean(v)
	}
	if err == nil {
		return nil
	}
	gqlErr, ok := err.(*gqlerror.Error)
	if !ok {
		gqlErr = gqlerr.BadInput("", err.Error())
	}
	return gqlErr
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
