package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/persisted"
)

// Mode is how /query treats persisted documents: operations a client names
// by an id instead of sending their text (PERSISTED_DOCUMENTS_MODE).
type Mode string

const (
	// ModeOff runs documents sent as text only; an id is answered
	// PERSISTED_QUERY_NOT_SUPPORTED, which Apollo's links take as "send
	// the text".
	ModeOff Mode = "off"
	// ModeAllow runs known ids, automatic persisted queries (APQ) and
	// documents sent as text.
	ModeAllow Mode = "allow"
	// ModeOnly runs known documents only, by id or by their exact text: a
	// safelist, so that a stolen token cannot run arbitrary operations.
	// APQ registration and other texts are refused
	// (PERSISTED_QUERY_NOT_IN_LIST); so is introspection, unless it was
	// turned on explicitly.
	ModeOnly Mode = "only"
)

// ParseMode reads a PERSISTED_DOCUMENTS_MODE value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeOff, ModeAllow, ModeOnly:
		return m, nil
	case "":
		return ModeAllow, nil
	}
	return "", fmt.Errorf("PERSISTED_DOCUMENTS_MODE=%q is not off, allow or only", s)
}

// Documents is the set of persisted documents /query runs by id. Each is
// parsed, validated against the schema and measured against the limits
// once, when loaded; a request that names one skips all three. Load swaps
// the whole set at once, so a request sees the old set or the new one.
type Documents struct {
	schema *ast.Schema
	lim    Limits
	set    atomic.Pointer[documentSet]
}

type documentSet struct {
	byKey  map[string]*known
	byText map[string]*known
}

// known is one persisted document, ready to run.
type known struct {
	key  string // persisted.Key of its id
	name string // what metrics call it: the manifest's name, else its operation's
	text string
	doc  *ast.QueryDocument
	// shape is what the budget measured at load.
	shape *shape
	// checked holds the cost of each operation whose cost does not
	// depend on variables: checked at load, not again per request.
	checked map[*ast.OperationDefinition]int
}

// NewDocuments returns an empty set that checks documents against the
// server's schema and lim.
func NewDocuments(lim Limits) *Documents {
	if lim == (Limits{}) {
		lim = DefaultLimits()
	}
	d := &Documents{schema: NewSchema(nil, nil).Schema(), lim: lim}
	d.set.Store(&documentSet{})
	return d
}

// Len is how many documents the set holds.
func (d *Documents) Len() int { return len(d.set.Load().byKey) }

// Load prepares docs and, when every one is good, makes them the set. On
// an error the set stays as it was; the error names the file and the
// operation.
func (d *Documents) Load(docs []persisted.Document) error {
	set, err := d.prepare(docs)
	if err != nil {
		return err
	}
	d.set.Store(set)
	return nil
}

// Checked is one document as Check found it.
type Checked struct {
	ID, Name, Source string
	// Operations lists the document's operations as "query ListTasks".
	Operations []string
}

// Check prepares docs as Load would, without keeping them, and says what
// each holds.
func (d *Documents) Check(docs []persisted.Document) ([]Checked, error) {
	set, err := d.prepare(docs)
	if err != nil {
		return nil, err
	}
	out := make([]Checked, 0, len(docs))
	seen := map[string]bool{}
	for _, pd := range docs {
		k := set.byKey[persisted.Key(pd.ID)]
		if seen[k.key] {
			continue
		}
		seen[k.key] = true
		c := Checked{ID: pd.ID, Name: k.name, Source: pd.Source}
		for _, op := range k.doc.Operations {
			c.Operations = append(c.Operations, strings.TrimSpace(string(op.Operation)+" "+op.Name))
		}
		out = append(out, c)
	}
	return out, nil
}

func (d *Documents) prepare(docs []persisted.Document) (*documentSet, error) {
	set := &documentSet{byKey: make(map[string]*known, len(docs)), byText: make(map[string]*known, len(docs))}
	for _, pd := range docs {
		key := persisted.Key(pd.ID)
		if prev := set.byKey[key]; prev != nil {
			if prev.text == pd.Body {
				continue
			}
			return nil, fmt.Errorf("%s: %s: another document has the same id", pd.Source, describe(pd))
		}
		k, err := d.prepareOne(&pd)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %s", pd.Source, describe(pd), oneLine(err.Error()))
		}
		k.key = key
		set.byKey[key] = k
		if _, dup := set.byText[k.text]; !dup {
			set.byText[k.text] = k
		}
	}
	return set, nil
}

// describe names a document in messages: its name, and its id cut short.
func describe(pd persisted.Document) string {
	id := pd.ID
	if len(id) > 24 {
		id = id[:20] + "…"
	}
	if pd.Name != "" {
		return fmt.Sprintf("operation %q (id %s)", pd.Name, id)
	}
	return "operation with id " + id
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// prepareOne parses, validates and measures pd. A document of a format
// without names gets its operation's name, for messages and metrics.
func (d *Documents) prepareOne(pd *persisted.Document) (*known, error) {
	doc, s, gqlErr := parseMeasured(pd.Body, d.lim)
	if doc != nil && pd.Name == "" && len(doc.Operations) == 1 {
		pd.Name = doc.Operations[0].Name
	}
	if gqlErr != nil {
		return nil, gqlErr
	}
	if len(doc.Operations) == 0 {
		return nil, fmt.Errorf("the document holds no operation")
	}
	if errs := validator.ValidateWithRules(d.schema, doc, rules.NewDefaultRules()); len(errs) > 0 {
		return nil, errs[0]
	}
	k := &known{text: pd.Body, doc: doc, shape: s, checked: map[*ast.OperationDefinition]int{}}
	for _, op := range doc.Operations {
		// The cost without variables is the cost of every request when the
		// operation has none, and a lower bound when it has.
		if err := d.lim.checkEstimate(estimateOf(op, nil)); err != nil {
			return nil, fmt.Errorf("operation %s: %s", op.Name, err.Message)
		}
		if len(op.VariableDefinitions) == 0 {
			k.checked[op] = estimateOf(op, nil).cost
		}
	}
	k.name = pd.Name
	if k.name == "" {
		k.name = "id:" + pd.ID
	}
	if pd.Name != "" && doc.Operations.ForName(pd.Name) == nil && len(doc.Operations) > 1 {
		return nil, fmt.Errorf("the document holds no operation named %q", pd.Name)
	}
	return k, nil
}

func (d *Documents) byKey(key string) *known { return d.set.Load().byKey[key] }

func (d *Documents) byText(text string) *known { return d.set.Load().byText[text] }

type knownKey struct{}

// withKnown marks ctx as running k, so that the budget and the document
// cache take what was prepared at load.
func withKnown(ctx context.Context, k *known) context.Context {
	return context.WithValue(ctx, knownKey{}, k)
}

// knownFor returns the persisted document the request runs, when its text
// is query.
func knownFor(ctx context.Context, query string) *known {
	k, _ := ctx.Value(knownKey{}).(*known)
	if k == nil || k.text != query {
		return nil
	}
	return k
}

// DocumentName is the name metrics give the request's operation: its
// persisted document's name, or "" for a document sent as text.
func DocumentName(ctx context.Context) string {
	if k, _ := ctx.Value(knownKey{}).(*known); k != nil {
		return k.name
	}
	return ""
}

// documentRules are how a request may name its document: the persisted
// set, the mode, and (for ModeOnly's introspection) the budget's shapes.
type documentRules struct {
	docs   *Documents
	mode   Mode
	budget *budget
	// introspection was turned on: in ModeOnly, a document that asks for
	// nothing but introspection may run without being persisted.
	introspection bool
}

// document puts in place the text of the persisted document req names,
// and holds the request to the mode. A refusal comes with the status to
// answer it with, or 0 for a request error's usual one.
func (t documentRules) document(ctx context.Context, req *request) (context.Context, int, *gqlerror.Error) {
	p := &req.RawParams
	id, apq, err := documentID(req)
	if err != nil {
		return ctx, http.StatusBadRequest, err
	}
	if id == "" && p.Query == "" {
		return ctx, http.StatusBadRequest, &gqlerror.Error{
			Message:    `the request names no operation: send its text as "query", or a persisted document's id as "documentId"`,
			Extensions: map[string]any{"code": gqlerr.BadRequest},
		}
	}
	if t.mode == ModeOff {
		if id != "" {
			return ctx, 0, &gqlerror.Error{Message: "PersistedQueryNotSupported", Extensions: map[string]any{"code": gqlerr.PersistedQueryNotSupported}}
		}
		return ctx, 0, nil
	}
	if id != "" {
		if k := t.docs.byKey(persisted.Key(id)); k != nil {
			if p.Query != "" && p.Query != k.text {
				return ctx, http.StatusBadRequest, &gqlerror.Error{
					Message:    "the persistedQuery hash names another document than the query sent with it",
					Extensions: map[string]any{"code": gqlerr.BadRequest},
				}
			}
			p.Query = k.text
			delete(p.Extensions, "persistedQuery") // not APQ's to look up or keep
			return withKnown(ctx, k), 0, nil
		}
		switch {
		case !apq || p.Query == "" && t.mode == ModeOnly:
			return ctx, 0, &gqlerror.Error{Message: "PersistedQueryNotFound", Extensions: map[string]any{"code": gqlerr.PersistedQueryNotFound}}
		case t.mode == ModeAllow:
			return ctx, 0, nil // APQ's, by the text this user registered
		}
		// ModeOnly, APQ registration: the text decides.
		delete(p.Extensions, "persistedQuery")
	}
	if t.mode != ModeOnly {
		return ctx, 0, nil
	}
	if k := t.docs.byText(p.Query); k != nil {
		return withKnown(ctx, k), 0, nil
	}
	if t.introspection {
		s, err := t.budget.shapeOf(ctx, p.Query)
		if err != nil {
			return ctx, 0, err
		}
		if !s.data {
			return ctx, 0, nil
		}
	}
	return ctx, 0, &gqlerror.Error{
		Message:    "this server runs only the operations it was given: send a persisted document's id, not a document",
		Extensions: map[string]any{"code": gqlerr.PersistedQueryNotInList},
	}
}

// documentID returns the persisted document id req names, and whether it
// came as APQ's extension. Naming one twice, or an id with the document's
// text, is refused (APQ's extension with the text is APQ registering it).
func documentID(req *request) (id string, apq bool, err *gqlerror.Error) {
	bad := func(msg string) (string, bool, *gqlerror.Error) {
		return "", false, &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": gqlerr.BadRequest}}
	}
	named := 0
	if req.DocumentID != "" {
		id = req.DocumentID
		named++
	}
	if req.DocID != "" {
		id = req.DocID
		named++
	}
	if named > 0 && req.Query != "" {
		return bad("send a document's text (query) or its id (documentId), not both")
	}
	if ext, ok := req.Extensions["persistedQuery"]; ok && ext != nil {
		pq, ok := ext.(map[string]any)
		hash, _ := pq["sha256Hash"].(string)
		if !ok || hash == "" {
			return bad(`extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex>"}`)
		}
		if v, _ := pq["version"].(json.Number); v != "1" {
			return bad("extensions.persistedQuery.version must be 1")
		}
		id, apq = hash, true
		named++
	}
	if named > 1 {
		return bad("name the persisted document once: documentId, doc_id or extensions.persistedQuery")
	}
	return id, apq, nil
}

// viaHTTP marks a request whose document httpTransport already resolved.
type viaHTTP struct{}

// otherTransports holds operations that came another way than
// httpTransport (a WebSocket) to the same documentRules: APQ's extension
// and text, there being no documentId there.
type otherTransports struct{ documentRules }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = otherTransports{}

func (otherTransports) ExtensionName() string                   { return "DocumentRules" }
func (otherTransports) Validate(graphql.ExecutableSchema) error { return nil }

func (o otherTransports) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if ctx.Value(viaHTTP{}) != nil {
		return nil
	}
	req := request{RawParams: *p}
	// The known-document fast path needs the context, which a mutator
	// cannot change: the document cache holds its text's parse instead.
	if _, _, err := o.document(ctx, &req); err != nil {
		return err
	}
	p.Query, p.Extensions = req.Query, req.Extensions
	return nil
}
