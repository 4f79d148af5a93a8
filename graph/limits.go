package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
)

// MaxInputValues bounds the values all arguments of one operation hold once
// variables and fragments are expanded. gqlgen decodes a variable anew at
// each place it is used, so a few KB reusing one large variable could
// otherwise fill memory, and then a query with more parameters than either
// database takes.
const MaxInputValues = 2000

// inputBudget refuses an operation over MaxInputValues before it runs.
type inputBudget struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = inputBudget{}

func (inputBudget) ExtensionName() string                   { return "InputBudget" }
func (inputBudget) Validate(graphql.ExecutableSchema) error { return nil }

func (inputBudget) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	c := inputCounter{vars: oc.Variables, varWeight: map[string]int{}, fragWeight: map[*ast.FragmentDefinition]int{}}
	if n := c.selections(oc.Operation.SelectionSet); n > MaxInputValues {
		return gqlerr.BadInput("arguments", fmt.Sprintf("the operation's arguments hold more than %d values once variables and fragments are expanded", MaxInputValues))
	}
	return nil
}

// inputCounter weighs arguments. Weights saturate just above the limit, so
// neither the count nor the walk can grow without bound.
type inputCounter struct {
	vars       map[string]any
	varWeight  map[string]int
	fragWeight map[*ast.FragmentDefinition]int
}

func add(a, b int) int { return min(a+b, MaxInputValues+1) }

func (c inputCounter) selections(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, arg := range s.Arguments {
				n = add(n, c.value(arg.Value))
			}
			n = add(n, c.selections(s.SelectionSet))
		case *ast.InlineFragment:
			n = add(n, c.selections(s.SelectionSet))
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			w, ok := c.fragWeight[s.Definition]
			if !ok {
				w = c.selections(s.Definition.SelectionSet)
				c.fragWeight[s.Definition] = w
			}
			n = add(n, w)
		}
	}
	return n
}

func (c inputCounter) value(v *ast.Value) int {
	if v == nil {
		return 0
	}
	switch v.Kind {
	case ast.Variable:
		w, ok := c.varWeight[v.Raw]
		if !ok {
			w = jsonWeight(c.vars[v.Raw])
			c.varWeight[v.Raw] = w
		}
		return w
	case ast.ListValue, ast.ObjectValue:
		n := 1
		for _, child := range v.Children {
			n = add(n, c.value(child.Value))
		}
		return n
	}
	return 1
}

func jsonWeight(v any) int {
	switch x := v.(type) {
	case []any:
		n := 1
		for _, e := range x {
			n = add(n, jsonWeight(e))
		}
		return n
	case map[string]any:
		n := 1
		for _, e := range x {
			n = add(n, jsonWeight(e))
		}
		return n
	}
	return 1
}
