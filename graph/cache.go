package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/taskapi/server/internal/viewer"
)

// Memory bounds of the handler's caches. Entries are weighed by the bytes
// of their text, so a few large documents cannot crowd out memory the way
// a count of entries would let them.
const (
	// DocumentCacheBytes bounds parsed and validated documents, by text.
	DocumentCacheBytes = 32 << 20
	// APQCacheBytes bounds persisted query texts kept for hash-only requests.
	APQCacheBytes = 16 << 20
	// apqEntryBytes is the least an entry weighs, which bounds the entries
	// too: 16,384.
	apqEntryBytes = 1 << 10
	// astNodeBytes is about what one parsed selection or value takes.
	astNodeBytes = 256
)

// documentCache keeps parsed, validated documents by their text.
type documentCache struct {
	c *otter.Cache[string, *ast.QueryDocument]
}

var _ graphql.Cache[*ast.QueryDocument] = documentCache{}

func newDocumentCache() documentCache {
	return documentCache{otter.Must(&otter.Options[string, *ast.QueryDocument]{
		MaximumWeight: DocumentCacheBytes,
		Weigher: func(q string, doc *ast.QueryDocument) uint32 {
			return uint32(min(len(q)+astNodeBytes*astNodes(doc), 1<<31))
		},
	})}
}

// astNodes counts a document's selections and argument values, which is
// where its parsed size goes: a token takes far more parsed than as text.
func astNodes(doc *ast.QueryDocument) int {
	var set func(ast.SelectionSet) int
	var value func(*ast.Value) int
	value = func(v *ast.Value) int {
		if v == nil {
			return 0
		}
		n := 1
		for _, c := range v.Children {
			n += value(c.Value)
		}
		return n
	}
	set = func(ss ast.SelectionSet) int {
		n := 0
		for _, sel := range ss {
			n++
			switch s := sel.(type) {
			case *ast.Field:
				for _, a := range s.Arguments {
					n += value(a.Value)
				}
				n += len(s.Directives) + set(s.SelectionSet)
			case *ast.InlineFragment:
				n += len(s.Directives) + set(s.SelectionSet)
			case *ast.FragmentSpread:
				n += len(s.Directives)
			}
		}
		return n
	}
	n := 1
	for _, op := range doc.Operations {
		n += 1 + len(op.VariableDefinitions) + set(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		n += 1 + set(f.SelectionSet)
	}
	return n
}

func (d documentCache) Get(ctx context.Context, query string) (*ast.QueryDocument, bool) {
	if k := knownFor(ctx, query); k != nil {
		return k.doc, true // validated at load
	}
	return d.c.GetIfPresent(query)
}

func (d documentCache) Add(_ context.Context, query string, doc *ast.QueryDocument) {
	d.c.Set(query, doc)
}

// apqCache keeps automatically persisted queries per user: a hash-only
// request finds only what the same subject registered, so no one can learn
// whether someone else has sent a given document (with their search text
// written in it, say). Without a viewer it keeps and finds nothing.
type apqCache struct {
	c *otter.Cache[apqKey, string]
}

type apqKey struct{ subject, hash string }

var _ graphql.Cache[string] = apqCache{}

func newAPQCache() apqCache {
	return apqCache{otter.Must(&otter.Options[apqKey, string]{
		MaximumWeight: APQCacheBytes,
		Weigher: func(k apqKey, q string) uint32 {
			// At least apqEntryBytes each: at most APQCacheBytes/apqEntryBytes entries.
			return uint32(min(max(len(k.subject)+len(k.hash)+len(q)+64, apqEntryBytes), 1<<31))
		},
	})}
}

func (a apqCache) Get(ctx context.Context, hash string) (string, bool) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return "", false
	}
	return a.c.GetIfPresent(apqKey{v.Subject, hash})
}

func (a apqCache) Add(ctx context.Context, hash, query string) {
	if v, ok := viewer.FromContext(ctx); ok {
		a.c.Set(apqKey{v.Subject, hash}, query)
	}
}
