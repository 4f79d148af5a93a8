package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/ratelimit"
	"github.com/taskapi/server/internal/scalar"
	"github.com/taskapi/server/internal/viewer"
)

// budget holds each request to its Limits before anything runs. Its
// checks split where gqlgen's pipeline does:
//
//   - before parsing and validation (an OperationParameterMutator, after
//     APQ has put the text in place): tokens, then the document's shape,
//     counted in one linear pass and cached by text,
//     then the input budget in bytes × uses, with the variables as sent;
//   - after validation (an OperationContextMutator): the cost, which needs
//     the schema's types and the variables' values.
type budget struct {
	lim           Limits
	limiter       ratelimit.Limiter // nil: no rate limit
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

// shapeOf returns the cached shape of query, measuring it on a miss.
func (b *budget) shapeOf(ctx context.Context, query string) (*shape, *gqlerror.Error) {
	if k := knownFor(ctx, query); k != nil {
		return k.shape, nil
	}
	s, ok := b.shapes.GetIfPresent(query)
	if !ok {
		var err *gqlerror.Error
		if s, err = measure(query, b.lim); err != nil {
			return nil, err
		}
		b.shapes.Set(query, s)
	}
	return s, nil
}

// beforeAPQ measures a document sent in full before APQ keeps it under its
// hash, so that no hash-only request can replay one the budget refuses.
// It holds the budget by name: embedded, the budget's
// MutateOperationContext would run twice, spending the rate limit twice.
type beforeAPQ struct{ b *budget }

func (beforeAPQ) ExtensionName() string                   { return "BudgetBeforeAPQ" }
func (beforeAPQ) Validate(graphql.ExecutableSchema) error { return nil }

func (b beforeAPQ) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" || p.Extensions["persistedQuery"] == nil {
		return nil // APQ keeps nothing: the budget after it measures the text once
	}
	_, err := b.b.shapeOf(ctx, p.Query)
	return err
}

var _ graphql.OperationParameterMutator = beforeAPQ{}

func (b *budget) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if len(p.OperationName) > b.lim.NameBytes {
		return nameTooLong(b.lim) // gqlgen's answer would repeat it
	}
	if p.Query == "" {
		return nil // gqlgen answers that there is no operation
	}
	s, err := b.shapeOf(ctx, p.Query)
	if err != nil {
		return err
	}
	// Variables are weighed as sent, before gqlgen coerces them: coercing
	// a list of 300,000 objects would itself cost seconds.
	in := s.literal
	for name, v := range p.Variables {
		if s.declared[name] {
			in = in.plus(weigh(v).times(max(s.uses[name], 1)))
		}
	}
	if err := in.check(b.lim, "with their variables"); err != nil {
		return err
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
		v, ok := p.Variables[vd.name]
		if !ok {
			continue
		}
		if err := coerceBuiltin(vd.typ, v); err != nil {
			err.Extensions["field"] = vd.name
			err.Message = "variable $" + vd.name + ": " + err.Message
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

func (b *budget) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	var cost int
	if k := knownFor(ctx, oc.RawQuery); k != nil && k.checked[oc.Operation] > 0 {
		cost = k.checked[oc.Operation] // its cost does not depend on variables: checked at load
	} else {
		e := estimateOf(oc.Operation, oc.Variables)
		if err := b.lim.checkEstimate(e); err != nil {
			return err
		}
		cost = e.cost
	}
	return b.spend(ctx, cost)
}

// spend takes the operation's cost from the caller's rate-limit budget:
// one costly operation counts as many cheap ones.
func (b *budget) spend(ctx context.Context, cost int) *gqlerror.Error {
	v, ok := viewer.FromContext(ctx)
	if b.limiter == nil || !ok {
		return nil
	}
	res, err := b.limiter.Allow(ctx, ratelimit.SubjectKey(v.Subject), cost)
	if err != nil {
		return gqlerr.TimeoutError() // the request's context ended
	}
	if res.Allowed {
		return nil
	}
	secs := max(int((res.RetryAfter+time.Second-1)/time.Second), 1)
	return &gqlerror.Error{
		Message:    fmt.Sprintf("too many requests: this operation costs %d, more than your budget holds now; retry in %d s", cost, secs),
		Extensions: map[string]any{"code": gqlerr.RateLimited, "retryAfter": secs},
	}
}

// checkEstimate refuses an estimate over the cost or answer-size limits.
// The answer has room for errors too: as many as a response holds, each
// message cut at its bound, each path as deep as the depth limit allows.
func (lim Limits) checkEstimate(e estimate) *gqlerror.Error {
	e.bytes = satAdd(e.bytes, satMul(lim.Errors, maxMessageBytes+256+lim.Depth*(lim.NameBytes+8)))
	if e.cost > lim.Cost {
		return gqlerr.LimitError(gqlerr.ComplexityLimit, lim.Cost,
			fmt.Sprintf("the operation costs %s; at most %d is allowed (each field 1, a page's edges times its size, each SQL statement %d, each scan of all your rows %d more)", count(e.cost), lim.Cost, StatementCost, ScanCost))
	}
	if e.bytes > lim.ResponseBytes {
		return gqlerr.LimitError(gqlerr.ResponseLimit, lim.ResponseBytes,
			fmt.Sprintf("the answer could take %s bytes (each value at its longest, times its rows); at most %d are allowed: ask for fewer rows or fields", count(e.bytes), lim.ResponseBytes))
	}
	return nil
}
