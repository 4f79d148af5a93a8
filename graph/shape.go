package graph

import (
	"fmt"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/taskapi/server/internal/gqlerr"
)

// shape is what a document weighs before it is validated. It depends only
// on the document's text, so it is worked out once and cached with it.
type shape struct {
	// introspection is set when the document asks for __schema or __type.
	introspection bool
	// uses counts each variable's uses once fragments are expanded.
	uses map[string]int
	// literal is what the argument values written in the document weigh
	// once fragments are expanded.
	literal weight
	// builtins lists, by operation name, the variables of type Int or
	// Boolean, which gqlparser coerces itself before our scalars see them.
	builtins map[string][]*ast.VariableDefinition
	// only is the name of the document's one operation, the one a request
	// without an operationName runs.
	only string
}

// weight is what argument values hold: bytes of text and values.
type weight struct{ bytes, values int }

// sat is where counts stop growing: far above any limit, far below overflow.
const sat = 1 << 40

func satAdd(a, b int) int { return min(a+b, sat) }

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > sat/b {
		return sat
	}
	return min(a*b, sat)
}

func (w weight) times(k int) weight {
	return weight{satMul(w.bytes, k), satMul(w.values, k)}
}

func (w weight) plus(o weight) weight {
	return weight{satAdd(w.bytes, o.bytes), satAdd(w.values, o.values)}
}

// measure parses query and checks its shape against lim in time linear in
// its size: tokens, directives, depth, fields, aliases, root fields and
// fragment spreads, each fragment weighed once however often it is spread.
// Only a document within every bound goes on to validation, whose worst
// case these bounds keep small.
func measure(query string, lim Limits) (*shape, *gqlerror.Error) {
	src := &ast.Source{Input: query}
	if err := countTokens(src, lim); err != nil {
		return nil, err
	}
	if err := checkGraphQLText(query); err != nil {
		return nil, err
	}
	doc, err := parser.ParseQuery(src)
	if err != nil {
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Errorf("%s", err)
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return nil, gqlErr
	}
	return shapeOf(doc, lim)
}

// countTokens refuses src when it has more than lim.Tokens tokens or a
// name longer than lim.NameBytes. Comments are skipped; a lexical error
// stops the count, and the parser reports it.
func countTokens(src *ast.Source, lim Limits) *gqlerror.Error {
	lx := lexer.New(src)
	for n := 0; ; {
		tok, err := lx.ReadToken()
		switch {
		case err != nil || tok.Kind == lexer.EOF:
			return nil
		case tok.Kind == lexer.Comment:
			continue
		case tok.Kind == lexer.Name && len(tok.Value) > lim.NameBytes:
			return nameTooLong(lim)
		}
		if n++; n > lim.Tokens {
			return gqlerr.LimitError(gqlerr.TokenLimit, lim.Tokens,
				fmt.Sprintf("the document has more than %d tokens", lim.Tokens))
		}
	}
}

func nameTooLong(lim Limits) *gqlerror.Error {
	return gqlerr.LimitError(gqlerr.NameLimit, lim.NameBytes,
		fmt.Sprintf("a name is longer than %d bytes", lim.NameBytes))
}

// unit is one operation or fragment definition, counted without entering
// the fragments it spreads.
type unit struct {
	fields, aliases int
	top             int // fields at the unit's root, inline fragments' included
	depth           int // deepest own selection; the unit's root is level 1
	directives      int // the most at one place
	spreads         map[string]*spread
	uses            map[string]int
	literal         weight
}

// spread is how a unit spreads one fragment.
type spread struct {
	count int // occurrences
	top   int // occurrences at the unit's root
	level int // deepest level of an occurrence
}

func newUnit() *unit {
	return &unit{spreads: map[string]*spread{}, uses: map[string]int{}}
}

func (u *unit) selections(set ast.SelectionSet, level int, top bool, introspection *bool) {
	for _, sel := range set {
		u.depth = max(u.depth, level)
		switch s := sel.(type) {
		case *ast.Field:
			u.fields++
			if s.Alias != s.Name {
				u.aliases++
			}
			if top {
				u.top++
			}
			if s.Name == "__schema" || s.Name == "__type" {
				*introspection = true
			}
			for _, a := range s.Arguments {
				u.value(a.Value)
			}
			u.directiveList(s.Directives)
			u.selections(s.SelectionSet, level+1, false, introspection)
		case *ast.InlineFragment:
			u.directiveList(s.Directives)
			u.selections(s.SelectionSet, level+1, top, introspection)
		case *ast.FragmentSpread:
			u.directiveList(s.Directives)
			sp := u.spreads[s.Name]
			if sp == nil {
				sp = &spread{}
				u.spreads[s.Name] = sp
			}
			sp.count++
			if top {
				sp.top++
			}
			sp.level = max(sp.level, level)
		}
	}
}

func (u *unit) directiveList(ds ast.DirectiveList) {
	u.directives = max(u.directives, len(ds))
	for _, d := range ds {
		for _, a := range d.Arguments {
			u.value(a.Value)
		}
	}
}

// value weighs a literal argument value; a variable is weighed per
// request, by what it holds, once for each of its uses.
func (u *unit) value(v *ast.Value) {
	if v == nil {
		return
	}
	switch v.Kind {
	case ast.Variable:
		u.uses[v.Raw]++
	case ast.ListValue, ast.ObjectValue:
		u.literal.values++
		for _, c := range v.Children {
			u.literal.bytes += len(c.Name)
			u.value(c.Value)
		}
	default:
		u.literal.values++
		u.literal.bytes += len(v.Raw)
	}
}

// shapeOf counts each operation and fragment once, then works out how
// often each fragment is expanded (fragments spread by their spreaders,
// parents first) and weighs the document as if every spread were expanded.
func shapeOf(doc *ast.QueryDocument, lim Limits) (*shape, *gqlerror.Error) {
	s := &shape{uses: map[string]int{}}
	if len(doc.Operations) == 1 {
		s.only = doc.Operations[0].Name
	}
	ops := make([]*unit, len(doc.Operations))
	for i, op := range doc.Operations {
		u := newUnit()
		u.directiveList(op.Directives)
		for _, vd := range op.VariableDefinitions {
			u.directives = max(u.directives, len(vd.Directives))
			if name := innermost(vd.Type).NamedType; name == "Int" || name == "Boolean" {
				if s.builtins == nil {
					s.builtins = map[string][]*ast.VariableDefinition{}
				}
				s.builtins[op.Name] = append(s.builtins[op.Name], vd)
			}
		}
		u.selections(op.SelectionSet, 1, true, &s.introspection)
		ops[i] = u
	}
	frags := make(map[string]*unit, len(doc.Fragments))
	for _, f := range doc.Fragments {
		if _, dup := frags[f.Name]; dup {
			continue // validation refuses the document; spreads name the first
		}
		u := newUnit()
		u.directiveList(f.Directives)
		u.selections(f.SelectionSet, 1, true, &s.introspection)
		frags[f.Name] = u
	}

	// Fragments in post-order: each after every fragment it spreads.
	order := make([]string, 0, len(frags))
	state := make(map[string]int8, len(frags)) // 1 visiting, 2 done
	var cycle string
	var visit func(name string)
	visit = func(name string) {
		u, known := frags[name]
		if !known || state[name] == 2 || cycle != "" {
			return
		}
		if state[name] == 1 {
			cycle = name
			return
		}
		state[name] = 1
		for child := range u.spreads {
			visit(child)
		}
		state[name] = 2
		order = append(order, name)
	}
	for name := range frags {
		visit(name)
	}
	if cycle != "" {
		err := gqlerror.Errorf("fragment %s spreads itself", cycle)
		errcode.Set(err, errcode.ValidationFailed)
		return nil, err
	}

	// Depth and root fields of each fragment, its own spreads included.
	depth := make(map[string]int, len(frags))
	top := make(map[string]int, len(frags))
	through := func(u *unit) (d, t int) {
		d, t = u.depth, u.top
		for name, sp := range u.spreads {
			if _, known := frags[name]; known {
				d = max(d, sp.level+depth[name])
				t = satAdd(t, satMul(sp.top, top[name]))
			}
		}
		return d, t
	}
	for _, name := range order {
		depth[name], top[name] = through(frags[name])
	}

	// How often each fragment is expanded: its spreaders first.
	times := make(map[string]int, len(frags))
	expand := func(u *unit, k int) {
		for name, sp := range u.spreads {
			if _, known := frags[name]; known {
				times[name] = satAdd(times[name], satMul(sp.count, k))
			}
		}
	}
	for _, u := range ops {
		expand(u, 1)
	}
	for i := len(order) - 1; i >= 0; i-- {
		expand(frags[order[i]], times[order[i]])
	}

	var directives, maxDepth, fields, aliases, rootFields, spreads int
	add := func(u *unit, k int) {
		directives = max(directives, u.directives)
		fields = satAdd(fields, satMul(u.fields, k))
		aliases = satAdd(aliases, satMul(u.aliases, k))
		s.literal = s.literal.plus(u.literal.times(k))
		for name, n := range u.uses {
			s.uses[name] = satAdd(s.uses[name], satMul(n, k))
		}
	}
	for _, u := range ops {
		add(u, 1)
		d, t := through(u)
		maxDepth = max(maxDepth, d)
		rootFields = max(rootFields, t)
	}
	for name, u := range frags {
		add(u, times[name])
		spreads = satAdd(spreads, times[name])
	}

	switch {
	case directives > lim.Directives:
		return nil, gqlerr.LimitError(gqlerr.DirectiveLimit, lim.Directives,
			fmt.Sprintf("a place in the document has %d directives; at most %d are allowed", directives, lim.Directives))
	case maxDepth > lim.Depth:
		return nil, gqlerr.LimitError(gqlerr.DepthLimit, lim.Depth,
			fmt.Sprintf("selections nest %s levels deep (fragments counted); at most %d are allowed", count(maxDepth), lim.Depth))
	case fields > lim.Fields:
		return nil, gqlerr.LimitError(gqlerr.FieldLimit, lim.Fields,
			fmt.Sprintf("the document selects %s fields once fragments are expanded; at most %d are allowed", count(fields), lim.Fields))
	case aliases > lim.Aliases:
		return nil, gqlerr.LimitError(gqlerr.AliasLimit, lim.Aliases,
			fmt.Sprintf("the document has %s aliases once fragments are expanded; at most %d are allowed", count(aliases), lim.Aliases))
	case rootFields > lim.RootFields:
		return nil, gqlerr.LimitError(gqlerr.RootFieldLimit, lim.RootFields,
			fmt.Sprintf("an operation selects %s root fields; at most %d are allowed", count(rootFields), lim.RootFields))
	case spreads > lim.FragmentSpreads:
		return nil, gqlerr.LimitError(gqlerr.FragmentLimit, lim.FragmentSpreads,
			fmt.Sprintf("the document spreads fragments %s times once they are expanded; at most %d are allowed", count(spreads), lim.FragmentSpreads))
	}
	return s, nil
}

// innermost is the named type inside any lists.
func innermost(t *ast.Type) *ast.Type {
	for t.Elem != nil {
		t = t.Elem
	}
	return t
}

// count writes n, or "more than a trillion" once it has saturated.
func count(n int) string {
	if n >= sat {
		return "over a trillion"
	}
	return fmt.Sprint(n)
}
