package graph

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/taskapi/server/internal/gqlerr"
)

// TestShapeCounts checks the figures measure reports against counts made by
// hand, each with a limit one under the figure (refused) and at it (kept).
func TestShapeCounts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		limit func(*Limits) *int
		want  int
		code  string
	}{
		{"tokens, comments skipped", "# a comment\n{ a b }", func(l *Limits) *int { return &l.Tokens }, 4, gqlerr.TokenLimit},
		{"directives at one place", "{ a @x @y @z }", func(l *Limits) *int { return &l.Directives }, 3, gqlerr.DirectiveLimit},
		{"depth through a spread and an inline fragment", "{ a { ...F } } fragment F on T { ... on T { b { c } } }", func(l *Limits) *int { return &l.Depth }, 5, gqlerr.DepthLimit},
		{"fields: a fragment spread twice counts twice, and once as a definition", "{ a { ...F ...F } } fragment F on T { x y }", func(l *Limits) *int { return &l.Fields }, 7, gqlerr.FieldLimit},
		{"fields: an unused fragment counts once", "{ a } fragment U on T { x y z }", func(l *Limits) *int { return &l.Fields }, 4, gqlerr.FieldLimit},
		{"fields: a duplicate definition counts too", "{ ...F } fragment F on Q { a } fragment F on Q { b c }", func(l *Limits) *int { return &l.Fields }, 4, gqlerr.FieldLimit},
		{"aliases, but not a name aliased to itself", "{ x: a a: a b }", func(l *Limits) *int { return &l.Aliases }, 1, gqlerr.AliasLimit},
		{"root fields through fragments", "{ a ...F ... on Q { d } } fragment F on Q { b c }", func(l *Limits) *int { return &l.RootFields }, 4, gqlerr.RootFieldLimit},
		{"spreads of a doubling chain", "{ ...A } fragment A on Q { ...B ...B } fragment B on Q { ...C ...C } fragment C on Q { x }",
			// operation: A once; A (walked twice: root and spread) spreads B
			// twice = 4; B (root + 4) spreads C twice = 10.
			func(l *Limits) *int { return &l.FragmentSpreads }, 15, gqlerr.FragmentLimit},
		{"input values: literals times expansions, variable references included", "query($v: String = \"d\") { ...F ...F } fragment F on Q { a(x: [1, 2], y: $v) }",
			// default 1; F walked 3 times × (list 1 + 2 + the reference 1).
			func(l *Limits) *int { return &l.InputValues }, 13, gqlerr.InputLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := DefaultLimits()
			*tc.limit(&lim) = tc.want
			if _, err := measure(tc.doc, lim); err != nil {
				t.Errorf("at the limit of %d: %v", tc.want, err)
			}
			*tc.limit(&lim) = tc.want - 1
			_, err := measure(tc.doc, lim)
			if err == nil || err.Extensions["code"] != tc.code {
				t.Errorf("under the limit: got %v, want %s", err, tc.code)
			}
		})
	}
}

// TestShapeKeepsRealDocuments: what real clients send fits the defaults.
func TestShapeKeepsRealDocuments(t *testing.T) {
	introspection, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	apollo := `query Tasks($first: Int, $after: Cursor) {
  tasks(first: $first, after: $after) { totalCount edges { cursor node { ...TaskFields __typename } __typename }
    pageInfo { hasNextPage endCursor __typename } __typename }
}
fragment TaskFields on Task { id title description isCompleted createdAt updatedAt __typename }`
	for name, doc := range map[string]string{"GraphiQL's introspection": string(introspection), "an Apollo page with a fragment": apollo} {
		if _, err := measure(doc, DefaultLimits()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestConflicts: pairs of same-named fields that differ are counted as
// validation merges them, and a document with many is refused.
func TestConflicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		code string
	}{
		{"identical repeats are no conflict", "{ a {" + strings.Repeat(" id", 300) + " } }", ""},
		{"a hundred pairs pass on to validation", "{ a {" + strings.Repeat(" x: id", 10) + strings.Repeat(" x: title", 10) + " } }", ""},
		{"more pairs are refused", "{ a {" + strings.Repeat(" x: id", 10) + strings.Repeat(" x: title", 11) + " } }", gqlerr.ValidationFailed},
		{"differing arguments conflict", "{" + strings.Repeat(" t: tasks(first: 1) { n }", 10) + strings.Repeat(" t: tasks(first: 2) { n }", 11) + " }", gqlerr.ValidationFailed},
		{"through merged sub-selections", "{ a { b {" + strings.Repeat(" x: id", 11) + " } } a { b {" + strings.Repeat(" x: title", 10) + " } } }", gqlerr.ValidationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := DefaultLimits()
			lim.RootFields, lim.Aliases = 100, 100
			_, err := measure(tc.doc, lim)
			switch {
			case tc.code == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.code != "" && (err == nil || err.Extensions["code"] != tc.code):
				t.Errorf("got %v, want %s", err, tc.code)
			}
		})
	}
}

// TestEstimate: what real pages cost and may answer fits the defaults, and
// a third full page does not.
func TestEstimate(t *testing.T) {
	const page = `tasks(first: 100) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { id title description isCompleted createdAt updatedAt } } }`
	lim := DefaultLimits()
	for n, wantOK := range map[int]bool{1: true, 2: true, 3: false} {
		var q strings.Builder
		q.WriteString("{")
		for i := range n {
			q.WriteString(" p" + strings.Repeat("x", i) + ": " + page)
		}
		q.WriteString(" }")
		doc, err := parser.ParseQuery(&ast.Source{Input: q.String()})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validator.Validate(NewSchema(nil, nil).Schema(), doc); len(errs) > 0 {
			t.Fatal(errs)
		}
		e := estimateOf(doc.Operations[0], nil)
		t.Logf("%d full pages: cost %d, up to %d bytes", n, e.cost, e.bytes)
		if ok := e.cost <= lim.Cost && e.bytes <= lim.ResponseBytes; ok != wantOK {
			t.Errorf("%d full pages: cost %d, %d bytes: within the limits %v, want %v", n, e.cost, e.bytes, ok, wantOK)
		}
	}
}

// TestDocumentWeight: a document's cache weight counts its parsed nodes,
// where its memory goes, not just its text.
func TestDocumentWeight(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: "query($v: Int) { a(x: [1, 2]) { b ...F ... on T { c } } } fragment F on T { d }"})
	if err != nil {
		t.Fatal(err)
	}
	// The document 1; the operation and its variable 2; a and its list of
	// two 4; b, the spread, the inline fragment and c 4; F and d 2.
	if n := astNodes(doc); n != 1+2+4+4+2 {
		t.Errorf("%d nodes", n)
	}
}

// TestCountCost: a count costs a statement and its share of a full scan,
// by atMost, written or from a variable; a totalCount costs the full scan.
func TestCountCost(t *testing.T) {
	cost := func(q string, vars map[string]any) int {
		t.Helper()
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validator.Validate(NewSchema(nil, nil).Schema(), doc); len(errs) > 0 {
			t.Fatal(errs)
		}
		return estimateOf(doc.Operations[0], vars).cost
	}
	bare := cost(`{ tasks(first: 1) { pageInfo { hasNextPage } } }`, nil)
	fields := 3 // count, value, exact
	for _, c := range []struct {
		q    string
		vars map[string]any
		want int
	}{
		{`{ tasks(first: 1) { pageInfo { hasNextPage } count { value exact } } }`, nil, StatementCost + ScanCost*DefaultCountUpTo/MaxCountUpTo},
		{`{ tasks(first: 1) { pageInfo { hasNextPage } count(atMost: 10000) { value exact } } }`, nil, StatementCost + ScanCost},
		{`query($n: Int!) { tasks(first: 1) { pageInfo { hasNextPage } count(atMost: $n) { value exact } } }`, map[string]any{"n": 40}, StatementCost + 3}, // bucket 100, rounded up
		{`query($n: Int!) { tasks(first: 1) { pageInfo { hasNextPage } count(atMost: $n) { value exact } } }`, map[string]any{"n": json.Number("1000000000")}, StatementCost + ScanCost},
	} {
		if got := cost(c.q, c.vars) - bare - fields; got != c.want {
			t.Errorf("%s %v: count costs %d, want %d", c.q, c.vars, got, c.want)
		}
	}
	if got := cost(`{ tasks(first: 1) { pageInfo { hasNextPage } totalCount } }`, nil) - bare - 1; got != StatementCost+ScanCost {
		t.Errorf("totalCount costs %d, want %d", got, StatementCost+ScanCost)
	}
	// A page of none still counts: first: 0 must not make counts free.
	if got := cost(`{ tasks(first: 0) { totalCount count(atMost: 10000) { value } } }`, nil); got < 2*(StatementCost+ScanCost) {
		t.Errorf("counts of an empty page cost %d, want at least %d", got, 2*(StatementCost+ScanCost))
	}
	// A filter no index serves may put the matches anywhere: a count of it
	// may read every row, whatever its atMost.
	filtered := cost(`{ tasks(first: 1, where: {titleContains: "x"}) { pageInfo { hasNextPage } count(atMost: 1) { value exact } } }`, nil) -
		cost(`{ tasks(first: 1, where: {titleContains: "x"}) { pageInfo { hasNextPage } } }`, nil) - fields
	if filtered != StatementCost+ScanCost {
		t.Errorf("a count of an unindexed filter costs %d, want %d", filtered, StatementCost+ScanCost)
	}
}
