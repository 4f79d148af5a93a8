// Package gqlerr spells every error code the API answers with, builds the
// errors that carry them, and presents resolver errors to clients without
// leaking what went wrong inside.
package gqlerr

import (
	"context"
	"database/sql/driver"
	"errors"
	"log/slog"
	"maps"
	"runtime/debug"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/ent/privacy"
	"github.com/taskapi/server/internal/gqlerr/code"
	"github.com/taskapi/server/internal/telemetry"
)

// Codes in extensions.code. Clients branch on these, never on messages.
const (
	Unauthenticated        = code.Unauthenticated
	NotFound               = "NOT_FOUND"
	BadUserInput           = "BAD_USER_INPUT"
	ParseFailed            = errcode.ParseFailed      // GRAPHQL_PARSE_FAILED, set by gqlgen
	ValidationFailed       = errcode.ValidationFailed // GRAPHQL_VALIDATION_FAILED, set by gqlgen
	PersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"
	InternalServerError    = "INTERNAL_SERVER_ERROR"
	// Timeout: the request's deadline passed (HTTP 503 with Retry-After).
	Timeout = "TIMEOUT"
	// Unavailable: the database connection failed under the request (a
	// connection another request's cancellation broke, say); retry.
	Unavailable = code.Unavailable
	// IntrospectionDisabled: __schema or __type asked of a server that
	// does not answer them (production by default).
	IntrospectionDisabled = "INTROSPECTION_DISABLED"
)

// Codes of persisted documents (operations a client names by id). The
// messages of the first two are what Apollo's links look for.
const (
	// PersistedQueryNotSupported: an id sent to a server whose
	// PERSISTED_DOCUMENTS_MODE is off; an Apollo client sends the text instead.
	PersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED"
	// PersistedQueryNotInList: a document's text sent to a server that runs
	// only the documents it was given (PERSISTED_DOCUMENTS_MODE=only).
	PersistedQueryNotInList = "PERSISTED_QUERY_NOT_IN_LIST"
	// BadRequest: the request is not a GraphQL request this server reads
	// (both a document and an id, say, or no operation at all).
	BadRequest = "BAD_REQUEST"
	// TransportNotSupported: a transport this endpoint does not serve
	// (WebSocket, server-sent events).
	TransportNotSupported = "TRANSPORT_NOT_SUPPORTED"
	// RateLimited: the caller spent their budget (HTTP 429 with
	// Retry-After; extensions.retryAfter in seconds).
	RateLimited = "RATE_LIMITED"
	// OriginNotAllowed: a browser page of an origin not in
	// CORS_ALLOWED_ORIGINS opened a WebSocket (HTTP 403).
	OriginNotAllowed = "ORIGIN_NOT_ALLOWED"
)

// Codes of a request refused by its budget before anything runs, in the
// order the checks run (graph/limits.go holds the bounds).
const (
	RequestTooLarge = "REQUEST_TOO_LARGE"
	TokenLimit      = "TOKEN_LIMIT_EXCEEDED"
	NameLimit       = "NAME_LIMIT_EXCEEDED"
	DirectiveLimit  = "DIRECTIVE_LIMIT_EXCEEDED"
	DepthLimit      = "DEPTH_LIMIT_EXCEEDED"
	FieldLimit      = "FIELD_LIMIT_EXCEEDED"
	AliasLimit      = "ALIAS_LIMIT_EXCEEDED"
	RootFieldLimit  = "ROOT_FIELD_LIMIT_EXCEEDED"
	FragmentLimit   = "FRAGMENT_LIMIT_EXCEEDED"
	InputLimit      = "INPUT_LIMIT_EXCEEDED"
	ComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
	ResponseLimit   = "RESPONSE_LIMIT_EXCEEDED"
	TooManyErrors   = "TOO_MANY_ERRORS"
	// SubscriptionLimit: a WebSocket already runs as many subscriptions
	// as one may.
	SubscriptionLimit = "SUBSCRIPTION_LIMIT_EXCEEDED"
	// OperationLimit: a WebSocket already runs as many queries and
	// mutations at once as one may.
	OperationLimit = "OPERATION_LIMIT_EXCEEDED"
)

// Reasons in extensions.reason of an UNAUTHENTICATED error: what a client
// should do next. An SPA refreshes its token on ReasonExpired.
const (
	ReasonMissing = code.ReasonMissing
	ReasonExpired = code.ReasonExpired
	ReasonInvalid = code.ReasonInvalid
	// ReasonKeysNotLoaded goes with Unavailable: the issuer's signing keys
	// were never loaded (HTTP 503 with Retry-After).
	ReasonKeysNotLoaded = code.ReasonKeysNotLoaded
)

// Messages that must not vary: absent and not-yours read the same.
const (
	msgNotFound = "task not found"
	msgInternal = "internal server error"
)

// BadInput is a refused input, naming the field at fault. An empty field
// is filled by the presenter from the error's path: the argument or input
// field that did not parse.
func BadInput(field, message string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    message,
		Extensions: map[string]any{"code": BadUserInput, "field": field},
	}
}

// NotFoundError is the one answer for a task that is absent or not the
// caller's.
func NotFoundError() *gqlerror.Error {
	return &gqlerror.Error{
		Message:    msgNotFound,
		Extensions: map[string]any{"code": NotFound},
	}
}

// InternalError is the one answer for anything unexpected: its detail goes
// to the log, never to the client.
func InternalError() *gqlerror.Error {
	return &gqlerror.Error{
		Message:    msgInternal,
		Extensions: map[string]any{"code": InternalServerError},
	}
}

// LimitError is a request refused by one of its bounds: code says which,
// limit is the bound it went over.
func LimitError(code string, limit int, message string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    message,
		Extensions: map[string]any{"code": code, "limit": limit},
	}
}

// Truncate cuts s to at most n bytes on a character boundary, marking the
// cut: messages that quote what a client sent stay small.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// TimeoutError is the answer for a request whose deadline passed.
func TimeoutError() *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "the request took longer than the server allows: try again later",
		Extensions: map[string]any{"code": Timeout},
	}
}

// UnauthenticatedError is the body of a 401.
func UnauthenticatedError(reason, message string) *gqlerror.Error {
	return code.UnauthenticatedError(reason, message)
}

// NewPresenter returns the error presenter for the GraphQL handler. Errors
// that already carry a code (ours, and gqlgen's parse, validation and
// persisted-query errors) pass through; ent's not-found and privacy denials
// become NOT_FOUND, ent validation errors BAD_USER_INPUT, and anything else
// is logged and answered as INTERNAL_SERVER_ERROR with no detail. Every
// error carries the request's id in extensions.requestId and, when tracing
// is on, its trace's id in extensions.traceId: what a client quotes to find
// the log lines and the trace.
func NewPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	present := newCodePresenter(logger)
	return func(ctx context.Context, err error) *gqlerror.Error {
		return WithIDs(ctx, present(ctx, err))
	}
}

// WithIDs adds the request and trace ids to a copy of e, as the presenter
// does: for errors made after it ran. A copy, because an error may be
// shared (one cached with its document, say), and ids are per request.
func WithIDs(ctx context.Context, e *gqlerror.Error) *gqlerror.Error {
	requestID, traceID := telemetry.RequestID(ctx), telemetry.TraceID(ctx)
	if e == nil || requestID == "" && traceID == "" {
		return e
	}
	out := *e
	out.Extensions = maps.Clone(e.Extensions)
	if out.Extensions == nil {
		out.Extensions = map[string]any{}
	}
	if requestID != "" {
		out.Extensions["requestId"] = requestID
	}
	if traceID != "" {
		out.Extensions["traceId"] = traceID
	}
	return &out
}

func newCodePresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if code, ok := gqlErr.Extensions["code"]; ok {
			if code == BadUserInput && gqlErr.Extensions["field"] == "" {
				gqlErr.Extensions["field"] = lastName(gqlErr.Path)
			}
			return gqlErr
		}
		var ve *ent.ValidationError
		switch {
		case ent.IsNotFound(err), errors.Is(err, privacy.Deny):
			return withPath(NotFoundError(), gqlErr)
		case errors.As(err, &ve):
			return withPath(BadInput(ve.Name, innermost(ve).Error()), gqlErr)
		case errors.Is(err, driver.ErrBadConn):
			logger.WarnContext(ctx, "graphql: database connection failed", "error", err, "path", gqlErr.Path.String())
			return withPath(&gqlerror.Error{
				Message:    "the database connection failed: try again",
				Extensions: map[string]any{"code": Unavailable},
			}, gqlErr)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// The deadline passed or the client left: the transport
			// answers 503, or no one is listening.
			return withPath(TimeoutError(), gqlErr)
		}
		logger.ErrorContext(ctx, "graphql: unexpected error",
			"error", err, "path", gqlErr.Path.String())
		return withPath(InternalError(), gqlErr)
	}
}

// lastName is the last name in a path: for an input that did not parse,
// the argument or input field it was given for (["nodes","ids",2] → "ids").
func lastName(p ast.Path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if name, ok := p[i].(ast.PathName); ok {
			return string(name)
		}
	}
	return ""
}

// NewRecoverFunc returns the panic handler for the GraphQL handler: the
// panic is logged and the client gets an internal error without detail.
func NewRecoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "graphql: panic", "panic", p, "stack", string(debug.Stack()))
		return InternalError()
	}
}

// withPath copies the location of the original error onto the answer.
func withPath(e, from *gqlerror.Error) *gqlerror.Error {
	out := *e
	out.Path = from.Path
	out.Locations = from.Locations
	return &out
}

// innermost is the last error in err's chain: for ent validation errors,
// the validator's own message, without ent's prefix.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
