package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/ravilushqa/otelgqlgen"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/internal/gqlerr"
)

// Cache and cost bounds of the GraphQL handler.
const (
	// QueryCacheSize is how many parsed and validated documents are kept.
	QueryCacheSize = 1000
	// APQCacheSize is how many persisted query texts are kept, by hash.
	APQCacheSize = 1000
	// ComplexityLimit bounds the fields one operation may select, aliases
	// included, so one request cannot fan out into many queries.
	ComplexityLimit = 500
)

// NewHandler returns the GraphQL endpoint over client. It expects the
// viewer in the request context (the auth middleware puts it there). exts
// run outermost, before the handler's own extensions (metrics, say).
func NewHandler(logger *slog.Logger, client *ent.Client, exts ...graphql.HandlerExtension) http.Handler {
	srv := handler.New(NewSchema(client))
	for _, ext := range exts {
		// Scalar fields read off ent objects skip field middleware
		// (internal/gqlseq): only resolver-only tracing may intercept fields.
		if _, ok := ext.(graphql.FieldInterceptor); ok {
			if _, tracing := ext.(otelgqlgen.Tracer); !tracing {
				panic(fmt.Sprintf("graph: %s intercepts fields, which generated.go's struct reads skip (see internal/gqlseq)", ext.ExtensionName()))
			}
		}
		srv.Use(ext)
	}
	srv.AddTransport(httpTransport{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](QueryCacheSize))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](APQCacheSize)})
	srv.Use(extension.FixedComplexityLimit(ComplexityLimit))
	srv.Use(inputBudget{})
	// gqlgen runs the first extension outermost: this one wraps the
	// transaction below and sees its failures too.
	srv.AroundResponses(codeEveryError(logger))
	// All mutations of one operation commit together or not at all.
	srv.Use(entgql.Transactioner{
		TxOpener: client,
		SkipTxFunc: func(op *ast.OperationDefinition) bool {
			return op == nil || op.Operation != ast.Mutation || oneField(op)
		},
	})
	srv.SetErrorPresenter(gqlerr.NewPresenter(logger))
	srv.SetRecoverFunc(gqlerr.NewRecoverFunc(logger))
	return srv
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
// failures carry driver text) is logged and replaced by an internal error.
func codeEveryError(logger *slog.Logger) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp == nil {
			return nil
		}
		for i, e := range resp.Errors {
			if e.Extensions["code"] != nil {
				continue
			}
			logger.ErrorContext(ctx, "graphql: uncoded error", "error", e.Message)
			resp.Errors[i] = gqlerr.InternalError()
			resp.Errors[i].Path = e.Path
		}
		return resp
	}
}
