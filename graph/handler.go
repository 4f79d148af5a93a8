package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/ravilushqa/otelgqlgen"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/broker"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/ratelimit"
)

// Options configure the GraphQL handler.
type Options struct {
	// Auth says who sends each request; required.
	Auth auth.Authenticator
	// Documents are the persisted documents clients may name by id; nil
	// is an empty set.
	Documents *Documents
	// Mode is how persisted documents are taken; "" is ModeAllow.
	Mode Mode
	// Limits bound each request; the zero value means DefaultLimits.
	Limits Limits
	// Introspection answers __schema and __type, which GraphiQL and code
	// generators ask for. Off, they are refused and error messages stop
	// suggesting field names.
	Introspection bool
	// Extensions run outermost, before the handler's own (metrics, say).
	Extensions []graphql.HandlerExtension
	// Origins are the browser origins (CORS_ALLOWED_ORIGINS) whose pages
	// may open a WebSocket besides the server's own.
	Origins []string
	// Shutdown ends when the server shuts down: open WebSockets are then
	// closed with CloseGoingAway, which clients reconnect on.
	Shutdown context.Context
	// Events are the task changes subscriptions deliver; nil is this
	// process's alone.
	Events broker.Broker
	// RateLimit spends each operation's cost from its caller's budget,
	// and UnauthenticatedCost from a client address's for each request
	// refused for its credentials; nil is no limit.
	RateLimit ratelimit.Limiter
	// ClientAddr says which address a request came from (behind trusted
	// proxies, the one they forwarded); nil is the TCP peer's.
	ClientAddr func(*http.Request) netip.Addr
	// UnauthenticatedCost replaces the constant of that name; 0 keeps it.
	// A budget whose burst holds fewer than ten such requests needs less.
	UnauthenticatedCost int
}

// NewHandler returns /query: its whole HTTP contract, in the order a
// request meets it.
//
//  1. Method: GET and POST; anything else is 405 (onlyGetPost).
//  2. Who is asking: auth.Middleware answers 401 (503 before the signing
//     keys are loaded; 429 once the client's address has spent its budget
//     of refused credentials, addrlimit.go) and puts the viewer in the
//     context; a WebSocket
//     authenticates at connection_init instead, with the same auth.Check
//     (websocket.go: close 4403 when refused or when the token expires).
//  3. Transports, in order: graphql-transport-ws over a WebSocket
//     (websocket.go), GraphQL over HTTP (httpTransport: POST, and GET for
//     queries), then a coded refusal of the rest (other WebSocket
//     subprotocols, server-sent events).
//  4. The document (documents.go): a persisted document's id (documentId,
//     doc_id or APQ's extension) and the Mode, for HTTP in httpTransport
//     and for WebSockets in otherTransports; APQ's per-user cache serves
//     the hashes the manifests do not know.
//  5. The budget (budget.go): shape, input and cost, before anything runs.
//  6. Error coding: the presenter codes what resolvers return,
//     codeEveryError the rest; httpTransport picks the status from the
//     response's media type.
func NewHandler(logger *slog.Logger, client *ent.Client, opts Options) http.Handler {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if opts.Mode == "" {
		opts.Mode = ModeAllow
	}
	if opts.Documents == nil {
		opts.Documents = NewDocuments(opts.Limits)
	}
	if opts.Documents.lim != opts.Limits {
		// They were measured against those limits at load, and a request
		// that names one is not measured again.
		panic("graph: Options.Documents were made with other limits than Options.Limits")
	}
	lim := opts.Limits
	if opts.Events == nil {
		opts.Events = broker.NewLocal(broker.Options{Logger: logger})
	}
	srv := handler.New(NewSchema(client, opts.Events))
	for _, ext := range opts.Extensions {
		// Scalar fields read off ent objects skip field middleware
		// (internal/gqlseq): only resolver-only tracing may intercept fields.
		if _, ok := ext.(graphql.FieldInterceptor); ok {
			if _, tracing := ext.(otelgqlgen.Tracer); !tracing {
				panic(fmt.Sprintf("graph: %s intercepts fields, which generated.go's struct reads skip (see internal/gqlseq)", ext.ExtensionName()))
			}
		}
		srv.Use(ext)
	}
	if opts.Auth == nil {
		panic("graph: NewHandler needs Options.Auth")
	}
	b := newBudget(lim, opts.Introspection)
	b.limiter = opts.RateLimit
	rules := documentRules{docs: opts.Documents, mode: opts.Mode, budget: b, introspection: opts.Introspection}
	sockets := newWebSockets(opts.Auth, logger, opts.Origins, lim, opts.Shutdown)
	sockets.guard = addrGuard{limiter: opts.RateLimit, addrOf: opts.ClientAddr, cost: opts.UnauthenticatedCost}
	srv.AddTransport(sockets.transport())
	srv.AddTransport(httpTransport{lim: lim, documentRules: rules})
	srv.AddTransport(unsupportedTransport{})
	srv.Use(otherTransports{rules})
	srv.SetQueryCache(newDocumentCache())
	// A backstop: the budget counts tokens itself, before gqlgen parses.
	srv.SetParserTokenLimit(2 * lim.Tokens)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	if opts.Mode == ModeAllow {
		srv.Use(beforeAPQ{b})
		srv.Use(extension.AutomaticPersistedQuery{Cache: newAPQCache()})
	}
	// After APQ, which puts the text of a hash-only request in place.
	srv.Use(b)
	// Operations over a WebSocket: bounded per socket, and a query or
	// mutation has the deadline an HTTP one has.
	srv.AroundOperations(socketOperations(lim.Timeout))
	// gqlgen resolves a query's root fields at once: a few at a time, so
	// that one operation cannot hold every pooled connection.
	srv.AroundOperations(rootFieldSlots)
	srv.AroundRootFields(takeRootFieldSlot)
	// gqlgen runs the first extension outermost: this one wraps the
	// transaction below and sees its failures too.
	srv.AroundResponses(codeEveryError(logger, lim.Errors))
	// All mutations of one operation commit together or not at all.
	srv.Use(entgql.Transactioner{
		TxOpener: client,
		SkipTxFunc: func(op *ast.OperationDefinition) bool {
			return op == nil || op.Operation != ast.Mutation || oneField(op)
		},
	})
	srv.SetErrorPresenter(gqlerr.NewPresenter(logger))
	srv.SetRecoverFunc(gqlerr.NewRecoverFunc(logger))
	// A WebSocket authenticates at connection_init: browsers cannot set
	// headers on one.
	guard := addrGuard{limiter: opts.RateLimit, addrOf: opts.ClientAddr, cost: opts.UnauthenticatedCost}
	authenticated := auth.Middleware(opts.Auth, logger, guard.refuse)(srv)
	upgrades := sockets.upgrades(srv)
	return onlyGetPost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if webSocketUpgrade(r) {
			upgrades.ServeHTTP(w, r)
			return
		}
		authenticated.ServeHTTP(w, r)
	}))
}

// socketOperations bounds the operations one WebSocket runs at once
// (gqlgen runs each in a goroutine of its own): subscriptions, and queries
// and mutations, each to their own count; and gives a query or mutation the
// request deadline, where a subscription runs as long as its socket.
func socketOperations(timeout time.Duration) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		c := wsConnFrom(ctx)
		if c == nil || oc.Operation == nil {
			return next(ctx)
		}
		if defersPart(oc) {
			// A later payload has no message of its own here (gqlgen would
			// send it as a flat response no client merges), and a
			// subscription's would be dropped, its goroutine waiting until
			// the subscription ends.
			return refusal(&gqlerror.Error{
				Message:    "@defer is served over HTTP (POST or GET with Accept: multipart/mixed), not over a WebSocket",
				Extensions: map[string]any{"code": gqlerr.TransportNotSupported},
			})
		}
		running, most, code, what := &c.ops, MaxOperationsPerConnection, gqlerr.OperationLimit, "queries and mutations"
		subscription := oc.Operation.Operation == ast.Subscription
		if subscription {
			running, most, code, what = &c.subs, MaxSubscriptionsPerConnection, gqlerr.SubscriptionLimit, "subscriptions"
		}
		if running.Add(1) > int32(most) {
			running.Add(-1)
			return refusal(gqlerr.LimitError(code, most, fmt.Sprintf("a connection runs at most %d %s at once", most, what)))
		}
		cancel := context.CancelFunc(func() {})
		if !subscription {
			ctx, cancel = context.WithTimeout(ctx, timeout)
		}
		var done sync.Once
		end := func() {
			cancel()
			running.Add(-1)
		}
		responses := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := responses(ctx)
			// A query's one response ends it; a subscription ends with nil.
			if !subscription || resp == nil {
				done.Do(end)
			}
			return resp
		}
	}
}

// onlyGetPost answers 405 to any method but GET and POST, HEAD included.
func onlyGetPost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", "GET, POST")
		w.Header().Set("Content-Type", mediaJSON)
		w.WriteHeader(http.StatusMethodNotAllowed)
		writeRequestErrors(w, &graphql.Response{Errors: gqlerror.List{{
			Message:    "send GraphQL requests with GET (queries) or POST",
			Extensions: map[string]any{"code": gqlerr.ValidationFailed},
		}}})
	})
}

// atomicMutations lists the mutations that are atomic on their own: a create or a
// delete is one statement, and ent wraps an update's statements in a
// transaction of its own. A new mutation is not here until that is checked.
var atomicMutations = map[string]bool{"createTask": true, "updateTask": true, "deleteTask": true}

// oneField reports whether op selects, directly, a single root field that is
// atomic on its own. A transaction around it would only add the BEGIN and
// COMMIT round trips.
func oneField(op *ast.OperationDefinition) bool {
	if len(op.SelectionSet) != 1 {
		return false
	}
	f, ok := op.SelectionSet[0].(*ast.Field)
	return ok && atomicMutations[f.Name]
}

// RootFieldsAtOnce is how many root fields of one operation resolve at the
// same time, each with its SQL.
const RootFieldsAtOnce = 4

// opSlots bound what one operation runs at once: its root fields, and its
// counts (made on the first count). A count waits only on other counts,
// never on a root field's slot, which the count's own root field holds.
type opSlots struct {
	root       chan struct{}
	countsOnce sync.Once
	counts     chan struct{}
}

type slotsKey struct{}

func slotsFrom(ctx context.Context) *opSlots {
	s, _ := ctx.Value(slotsKey{}).(*opSlots)
	return s
}

func (s *opSlots) countSlots() chan struct{} {
	s.countsOnce.Do(func() { s.counts = make(chan struct{}, CountsAtOnce) })
	return s.counts
}

// refusal answers an operation with err alone: one response, then the end.
func refusal(err *gqlerror.Error) graphql.ResponseHandler {
	resp := &graphql.Response{Errors: gqlerror.List{err}}
	return func(context.Context) *graphql.Response {
		r := resp
		resp = nil
		return r
	}
}

func rootFieldSlots(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, slotsKey{}, &opSlots{root: make(chan struct{}, RootFieldsAtOnce)}))
}

func takeRootFieldSlot(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	s := slotsFrom(ctx)
	if s == nil {
		return next(ctx)
	}
	select {
	case s.root <- struct{}{}:
		defer func() { <-s.root }()
	case <-ctx.Done(): // the resolver fails at once on its own
	}
	return next(ctx)
}

// maxMessageBytes bounds an error message: some quote what the client
// sent, and a response must not grow with it.
const maxMessageBytes = 1024

// Tracing returns the extension that traces operations and resolvers to tp.
// Installed only when traces are exported: even with a no-op provider it
// wraps every field of every response.
func Tracing(tp trace.TracerProvider) graphql.HandlerExtension {
	// Variables carry task text and stay out of traces (the query text and
	// field arguments do not). Spans only for fields that run a resolver:
	// scalar struct reads skip field middleware (internal/gqlseq).
	return otelgqlgen.Middleware(
		otelgqlgen.WithTracerProvider(tp),
		otelgqlgen.WithoutVariables(),
		otelgqlgen.WithCreateSpanFromFields(func(fc *graphql.FieldContext) bool { return fc.IsResolver }),
	)
}

// codeEveryError is the last guard on what leaves the server: an error that
// reached the response without passing the presenter (entgql's transaction
// failures carry driver text) is logged and replaced by an internal error,
// and a response keeps at most maxErrors errors, the last saying how many
// more there were.
func codeEveryError(logger *slog.Logger, maxErrors int) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp == nil {
			return nil
		}
		for _, e := range resp.Errors {
			e.Message = gqlerr.Truncate(e.Message, maxMessageBytes)
		}
		if n := len(resp.Errors); n > maxErrors {
			resp.Errors = append(resp.Errors[:maxErrors-1], gqlerr.WithIDs(ctx, gqlerr.LimitError(gqlerr.TooManyErrors, maxErrors,
				fmt.Sprintf("%d more errors are not shown: a response holds at most %d", n-maxErrors+1, maxErrors))))
		}
		for i, e := range resp.Errors {
			if e.Extensions["code"] != nil {
				continue
			}
			logger.ErrorContext(ctx, "graphql: uncoded error", "error", e.Message)
			resp.Errors[i] = gqlerr.WithIDs(ctx, gqlerr.InternalError())
			resp.Errors[i].Path = e.Path
		}
		return resp
	}
}
