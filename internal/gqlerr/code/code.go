// Package code holds the error codes and reasons the HTTP edge answers with
// before GraphQL runs (authentication, availability), and the errors that
// carry them. It imports neither ent nor graph, so internal/auth and the
// routes compile without the data layer; gqlerr re-exports every name.
package code

import "github.com/vektah/gqlparser/v2/gqlerror"

// Codes in extensions.code that the HTTP edge answers with.
const (
	Unauthenticated = "UNAUTHENTICATED"
	// Unavailable: something the request needs is not there yet (the
	// database connection failed, the signing keys are not loaded); retry.
	Unavailable = "UNAVAILABLE"
)

// Reasons in extensions.reason of an UNAUTHENTICATED error: what a client
// should do next. An SPA refreshes its token on ReasonExpired.
const (
	ReasonMissing = "missing"
	ReasonExpired = "expired"
	ReasonInvalid = "invalid"
)

// ReasonKeysNotLoaded is the extensions.reason of an UNAVAILABLE answer
// given before the issuer's signing keys were ever loaded: the token may be
// fine, so the client retries rather than signing the user out.
const ReasonKeysNotLoaded = "keys_not_loaded"

// UnauthenticatedError is the body of a 401.
func UnauthenticatedError(reason, message string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    message,
		Extensions: map[string]any{"code": Unauthenticated, "reason": reason},
	}
}

// UnavailableError is the body of a 503 that asks the client to retry.
func UnavailableError(reason, message string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    message,
		Extensions: map[string]any{"code": Unavailable, "reason": reason},
	}
}
