package graph

import (
	"fmt"
	"strings"

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
	// data is set when the document asks for anything but introspection:
	// a root field not named __*, or a fragment's field not named __*.
	data bool
	// uses counts each variable's uses once fragments are expanded.
	uses map[string]int
	// literal is what the argument values written in the document weigh
	// once fragments are expanded.
	literal weight
	// builtins lists, by operation name, the variables of type Int or
	// Boolean, which gqlparser coerces itself before our scalars see them.
	builtins map[string][]builtinVar
	// only is the name of the document's one operation, the one a request
	// without an operationName runs.
	only string
	// declared names the variables the document's operations declare:
	// gqlgen coerces each of them, used or not.
	declared map[string]bool
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
	_, s, err := parseMeasured(query, lim)
	return s, err
}

// parseMeasured is measure that keeps the parsed document too.
func parseMeasured(query string, lim Limits) (*ast.QueryDocument, *shape, *gqlerror.Error) {
	src := &ast.Source{Input: query}
	if err := countTokens(src, lim); err != nil {
		return nil, nil, err
	}
	if err := checkGraphQLText(query); err != nil {
		return nil, nil, err
	}
	doc, err := parser.ParseQuery(src)
	if err != nil {
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Errorf("%s", err)
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return nil, nil, gqlErr
	}
	s, gqlErr := shapeOf(doc, lim)
	return doc, s, gqlErr
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
	operation       bool
	fragment        string // its name, for a fragment definition
	fields, aliases int
	top             int  // fields at the unit's root, inline fragments' included
	data            bool // a field at the unit's root not named __*
	depth           int  // deepest own selection; the unit's root is level 1
	directives      int  // the most at one place
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
				u.data = u.data || !strings.HasPrefix(s.Name, "__")
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
		u.literal.values++ // the reference itself: validation checks each
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

// shapeOf counts each operation and fragment definition once, then works
// out how often validation walks each fragment: once as a definition (used
// or not, duplicates included) and once more for each time it is spread,
// spreaders first. The document is weighed as if every spread were expanded.
func shapeOf(doc *ast.QueryDocument, lim Limits) (*shape, *gqlerror.Error) {
	s := &shape{uses: map[string]int{}, declared: map[string]bool{}}
	if len(doc.Operations) == 1 {
		s.only = doc.Operations[0].Name
	}
	roots := make([]*unit, 0, len(doc.Operations)+len(doc.Fragments))
	for _, op := range doc.Operations {
		u := newUnit()
		u.directiveList(op.Directives)
		for _, vd := range op.VariableDefinitions {
			s.declared[vd.Variable] = true
			u.directives = max(u.directives, len(vd.Directives))
			u.value(vd.DefaultValue)
			if name := innermost(vd.Type).NamedType; name == "Int" || name == "Boolean" {
				if s.builtins == nil {
					s.builtins = map[string][]builtinVar{}
				}
				s.builtins[op.Name] = append(s.builtins[op.Name], builtinVar{vd.Variable, vd.Type})
			}
		}
		u.selections(op.SelectionSet, 1, true, &s.introspection)
		u.operation = true
		s.data = s.data || u.data
		roots = append(roots, u)
	}
	frags := make(map[string]*unit, len(doc.Fragments))
	for _, f := range doc.Fragments {
		u := newUnit()
		u.fragment = f.Name
		u.directiveList(f.Directives)
		u.selections(f.SelectionSet, 1, true, &s.introspection)
		s.data = s.data || u.data
		if _, dup := frags[f.Name]; !dup {
			frags[f.Name] = u // spreads name the first; validation refuses the rest
		}
		roots = append(roots, u)
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

	// How often each fragment is walked: as a root (every definition is),
	// then once for each spread by a walk of its spreader, parents first.
	times := make(map[*unit]int, len(roots))
	for _, u := range roots {
		times[u] = 1
	}
	expand := func(u *unit) {
		for name, sp := range u.spreads {
			if f, known := frags[name]; known {
				times[f] = satAdd(times[f], satMul(sp.count, times[u]))
			}
		}
	}
	for _, u := range roots {
		// Operations, and duplicate definitions, which no one spreads.
		if u.operation || frags[u.fragment] != u {
			expand(u)
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		expand(frags[order[i]])
	}

	var directives, maxDepth, fields, aliases, rootFields, spreads int
	for _, u := range roots {
		k := times[u]
		directives = max(directives, u.directives)
		fields = satAdd(fields, satMul(u.fields, k))
		aliases = satAdd(aliases, satMul(u.aliases, k))
		s.literal = s.literal.plus(u.literal.times(k))
		for name, n := range u.uses {
			s.uses[name] = satAdd(s.uses[name], satMul(n, k))
		}
		for _, sp := range u.spreads {
			spreads = satAdd(spreads, satMul(sp.count, k))
		}
		d, t := through(u)
		maxDepth = max(maxDepth, d)
		if u.operation {
			rootFields = max(rootFields, t)
		}
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
			fmt.Sprintf("the document selects %s fields once fragments are expanded (unused fragments count once); at most %d are allowed", count(fields), lim.Fields))
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
	if err := s.literal.check(lim, "written in the document"); err != nil {
		return nil, err
	}
	if err := conflicts(doc); err != nil {
		return nil, err
	}
	return s, nil
}

// check refuses w over the input limits.
func (w weight) check(lim Limits, where string) *gqlerror.Error {
	switch {
	case w.bytes > lim.InputBytes:
		return gqlerr.LimitError(gqlerr.InputLimit, lim.InputBytes,
			fmt.Sprintf("the arguments %s hold %s bytes once each use of a variable or fragment is counted; at most %d are allowed", where, count(w.bytes), lim.InputBytes))
	case w.values > lim.InputValues:
		return gqlerr.LimitError(gqlerr.InputLimit, lim.InputValues,
			fmt.Sprintf("the arguments %s hold %s values once each use of a variable or fragment is counted; at most %d are allowed", where, count(w.values), lim.InputValues))
	}
	return nil
}

// builtinVar is a variable of a type gqlparser coerces itself.
type builtinVar struct {
	name string
	typ  *ast.Type
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

// maxConflicts bounds the pairs of fields in one selection set that share a
// response name but differ in field or arguments. Validation reports each
// such pair with an error of its own, so 400 `id` and 100 `id: title` made
// 40,000 errors (and 100 MB) from 2 KB; a real document has none.
const maxConflicts = 100

// conflicts counts those pairs the way validation merges selections:
// inline fragments and spreads into the set that holds them, and the
// selections of same-named fields into one set. The limits checked before
// bound the walk: it visits each field once per expansion.
func conflicts(doc *ast.QueryDocument) *gqlerror.Error {
	c := conflictCounter{frags: make(map[string]*ast.FragmentDefinition, len(doc.Fragments))}
	for _, f := range doc.Fragments {
		if _, dup := c.frags[f.Name]; !dup {
			c.frags[f.Name] = f
		}
	}
	for _, op := range doc.Operations {
		c.merged([]ast.SelectionSet{op.SelectionSet})
	}
	for _, f := range doc.Fragments {
		c.merged([]ast.SelectionSet{f.SelectionSet})
	}
	if c.pairs > maxConflicts {
		err := gqlerror.Errorf("%s pairs of fields share a response name but differ in field or arguments (e.g. %q): give them different aliases", count(c.pairs), c.example)
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	return nil
}

type conflictCounter struct {
	frags   map[string]*ast.FragmentDefinition
	pairs   int
	example string
}

// group is the fields of one response name in a merged set.
type group struct {
	signatures map[string]int // field name and arguments → occurrences
	children   []ast.SelectionSet
}

func (c *conflictCounter) merged(sets []ast.SelectionSet) {
	groups := map[string]*group{}
	for _, set := range sets {
		c.collect(set, groups)
	}
	for name, g := range groups {
		total, same := 0, 0
		for _, n := range g.signatures {
			total = satAdd(total, n)
			same = satAdd(same, satMul(n, n-1)/2)
		}
		if p := satMul(total, total-1)/2 - same; p > 0 {
			c.pairs = satAdd(c.pairs, p)
			c.example = name
		}
		if len(g.children) > 0 {
			c.merged(g.children)
		}
	}
}

func (c *conflictCounter) collect(set ast.SelectionSet, groups map[string]*group) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			g := groups[s.Alias]
			if g == nil {
				g = &group{signatures: map[string]int{}}
				groups[s.Alias] = g
			}
			g.signatures[signature(s)]++
			if len(s.SelectionSet) > 0 {
				g.children = append(g.children, s.SelectionSet)
			}
		case *ast.InlineFragment:
			c.collect(s.SelectionSet, groups)
		case *ast.FragmentSpread:
			if f := c.frags[s.Name]; f != nil {
				c.collect(f.SelectionSet, groups)
			}
		}
	}
}

// signature is a field's name and arguments as written.
func signature(f *ast.Field) string {
	if len(f.Arguments) == 0 {
		return f.Name
	}
	var b strings.Builder
	b.WriteString(f.Name)
	for _, a := range f.Arguments {
		b.WriteString(" " + a.Name + ":" + a.Value.String())
	}
	return b.String()
}
