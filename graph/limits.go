package graph

import "time"

// Limits is what one request may cost. Every bound is checked before any
// resolver or SQL runs, cheapest first, and each refusal carries its own
// code (in gqlerr) and the bound in extensions.limit. The defaults fit this
// schema; the README lists them with the variables that change them.
type Limits struct {
	// BodyBytes bounds a POST body and a GET query string (413,
	// REQUEST_TOO_LARGE). Real operations are a few KB.
	BodyBytes int
	// Tokens bounds a document's lexical tokens, comments excluded
	// (TOKEN_LIMIT_EXCEEDED). GraphiQL's introspection query has ~400.
	Tokens int
	// NameBytes bounds a name (field, alias, fragment, operation,
	// argument, variable) in bytes (NAME_LIMIT_EXCEEDED). A response repeats
	// an alias on every row and an error message quotes names, so a long
	// one would be multiplied.
	NameBytes int
	// Directives bounds the directives at any one place of a document
	// (DIRECTIVE_LIMIT_EXCEEDED).
	Directives int
	// Depth bounds how deep selections nest, fragment spreads and inline
	// fragments counted as a level each (DEPTH_LIMIT_EXCEEDED). Task
	// queries need 5; GraphiQL's introspection query, 18.
	Depth int
	// Fields bounds the field selections of a document once its fragments
	// are expanded, aliased copies included (FIELD_LIMIT_EXCEEDED). It also
	// bounds validation, whose overlapping-fields rule compares pairs.
	Fields int
	// Aliases bounds aliased fields once fragments are expanded
	// (ALIAS_LIMIT_EXCEEDED).
	Aliases int
	// RootFields bounds the root fields of an operation, each one at least
	// one SQL statement (ROOT_FIELD_LIMIT_EXCEEDED).
	RootFields int
	// FragmentSpreads bounds fragment spreads once nested fragments are
	// expanded (FRAGMENT_LIMIT_EXCEEDED): F0 spreading F1 twice, F1 F2
	// twice, … is refused before anything expands it.
	FragmentSpreads int
	// Cost bounds what an operation may ask for (COMPLEXITY_LIMIT_EXCEEDED):
	// each field 1, a connection's edges and nodes times its page size, nodes
	// times its ids, and StatementCost for each SQL statement it needs.
	Cost int
	// ResponseBytes bounds the JSON an answer's data may take, each value
	// counted at the most its type allows, times the rows it repeats on
	// (RESPONSE_LIMIT_EXCEEDED): 27 aliases of a description on a page of
	// 100 would otherwise answer 505 bytes with 32 MB.
	ResponseBytes int
	// InputBytes bounds argument bytes times their uses once variables and
	// fragments are expanded (INPUT_LIMIT_EXCEEDED): a variable of N bytes
	// used K times counts N×K, since each use is decoded anew.
	InputBytes int
	// InputValues bounds argument values (list entries, object fields,
	// scalars) times their uses, the same way (INPUT_LIMIT_EXCEEDED). It
	// keeps filters under either database's parameter limit.
	InputValues int
	// Errors bounds the errors in one response; the last one then says how
	// many were left out (TOO_MANY_ERRORS).
	Errors int
	// Timeout is each request's deadline (503, TIMEOUT, Retry-After). It
	// cancels the request's SQL.
	Timeout time.Duration
}

// DefaultLimits are the bounds for this schema.
func DefaultLimits() Limits {
	return Limits{
		BodyBytes:       1 << 20,
		Tokens:          5000,
		NameBytes:       256,
		Directives:      10,
		Depth:           20,
		Fields:          500,
		Aliases:         100,
		RootFields:      20,
		FragmentSpreads: 200,
		Cost:            3000,
		ResponseBytes:   4 << 20,
		InputBytes:      256 << 10,
		InputValues:     2000,
		Errors:          50,
		Timeout:         10 * time.Second,
	}
}

// StatementCost is what each SQL statement adds to an operation's cost: a
// root field, and a connection's totalCount.
const StatementCost = 10

// ScanCost is what may read every row the caller owns adds: each filter
// condition no index serves (all but id and createdAt), an order no index
// serves (TITLE, UPDATED_AT), a totalCount. It keeps one operation to about
// ten such passes; the deadline bounds how long they may take.
const ScanCost = 250

// Page sizes of the tasks connection.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Bounds on the shape of a where input: SQLite refuses expressions nested
// too deep, and no one lists more. Limits.InputValues bounds the total.
const (
	MaxWhereDepth = 10
	MaxWhereList  = 100
)
