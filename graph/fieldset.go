package graph

import (
	"context"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// fieldSet stands in for graphql.FieldSet in the object functions go
// generate (internal/gqlseq) finds only storing values: nothing resolved
// concurrently, no @defer view. graphql.FieldSet allocates itself and its
// values apart, and its MarshalGQL an iterator, a copy of every field and
// a map of the keys written, for each of a page's 41 objects.
type fieldSet struct {
	fields   []graphql.CollectedField
	Values   []graphql.Marshaler
	Invalids uint32
	inline   [8]graphql.Marshaler
}

func newFieldSet(fields []graphql.CollectedField) *fieldSet {
	s := &fieldSet{fields: fields}
	if len(fields) <= len(s.inline) {
		s.Values = s.inline[:len(fields)]
	} else {
		s.Values = make([]graphql.Marshaler, len(fields))
	}
	return s
}

// Dispatch has nothing to run: gqlseq gives this type only to objects
// with no field resolved later.
func (*fieldSet) Dispatch(context.Context) {}

var (
	openBrace  = []byte("{")
	closeBrace = []byte("}")
	comma      = []byte(",")
	quote      = []byte(`"`)
	quoteColon = []byte(`":`)
)

// MarshalGQL writes the fields in order, a key once, as gqlgen does.
func (s *fieldSet) MarshalGQL(w io.Writer) {
	w.Write(openBrace)
	var seen map[string]bool // past a few fields, the aliases written
	if len(s.fields) > 16 {
		seen = make(map[string]bool, len(s.fields))
	}
	first := true
	for i := range s.fields {
		alias := s.fields[i].Alias
		if seen != nil {
			if seen[alias] {
				continue
			}
			seen[alias] = true
		} else if written(s.fields[:i], alias) {
			continue
		}
		if !first {
			w.Write(comma)
		}
		first = false
		// An alias is a GraphQL Name ([_A-Za-z][_0-9A-Za-z]*, the lexer
		// takes nothing else): nothing in it needs escaping.
		w.Write(quote)
		io.WriteString(w, alias)
		w.Write(quoteColon)
		s.Values[i].MarshalGQL(w)
	}
	w.Write(closeBrace)
}

func written(before []graphql.CollectedField, alias string) bool {
	for i := range before {
		if before[i].Alias == alias {
			return true
		}
	}
	return false
}
