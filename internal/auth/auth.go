// Package auth verifies the bearer token on each request and puts its
// subject into the context as the viewer. A request without a valid token
// is answered 401 here and never reaches GraphQL.
//
// An Authenticator checks a token alone, so that any way in (the HTTP
// middleware here, a WebSocket connection_init later) asks the same
// question. There is one per mode: SharedSecret (HS256 with
// BETTER_AUTH_SECRET) or JWKS (Better Auth's JWT plugin, keys fetched from
// its JWKS endpoint); Cache wraps either. Signer makes development tokens
// and is no Authenticator.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr/code"
	"github.com/taskapi/server/internal/viewer"
)

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// MaxTokenBytes is the longest token decoded. Real tokens take a few
// hundred bytes to a few KiB; decoding a stranger's JSON header allocates up
// to some 60 bytes per byte, so the cap keeps that near a megabyte.
const MaxTokenBytes = 16 << 10

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Subject is the token's sub: the user id, stored as user_id.
	Subject string
	// Expires is the token's exp; it is valid until Expires plus Leeway.
	Expires time.Time
}

// Authenticator verifies a token. It reads nothing but the token (and the
// context, for a deadline), so it serves HTTP and WebSocket alike.
type Authenticator interface {
	// Authenticate returns the identity of a valid token. Errors wrap
	// jwt.ErrTokenExpired for an expired token and ErrKeysNotLoaded when
	// the token could not be checked yet; anything else means invalid.
	Authenticate(ctx context.Context, token string) (Identity, error)
}

// ErrKeysNotLoaded is returned before a key set was ever loaded: the token
// may be fine, and the client should retry rather than sign the user out.
var ErrKeysNotLoaded = errors.New("the signing key set has not been loaded yet")

// Ready reports why a cannot verify tokens yet (nil when it can): an
// Authenticator that depends on something remote says so with a Ready
// method, and wrappers pass it on.
func Ready(a Authenticator) error {
	if r, ok := a.(interface{ Ready() error }); ok {
		return r.Ready()
	}
	return nil
}

// RetryAfter is the Retry-After of a 503 for keys not loaded, in seconds.
const RetryAfter = 5

// Middleware verifies the bearer token with a and stores the viewer in the
// request context, or answers 401 with an RFC 6750 WWW-Authenticate header
// (503 with Retry-After while a cannot check tokens yet). At debug level
// each refusal is logged with its cause, never with the token.
//
// refused, when given, sees each refused request first and reports whether
// it answered it itself (a 429 for an address over its budget, say).
func Middleware(a Authenticator, logger *slog.Logger, refused ...func(http.ResponseWriter, *http.Request, *Refusal) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, refusal := Check(r.Context(), a, logger, r.Header.Values("Authorization"))
			if refusal != nil {
				for _, f := range refused {
					if f(w, r, refusal) {
						return
					}
				}
				writeRefusal(w, refusal)
				return
			}
			ctx := viewer.NewContext(r.Context(), viewer.Viewer{Subject: id.Subject})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// writeRefusal answers a request Check refused: 401 with an RFC 6750
// WWW-Authenticate header, or 503 with Retry-After while the keys are not
// loaded.
func writeRefusal(w http.ResponseWriter, refusal *Refusal) {
	if refusal.Reason == code.ReasonKeysNotLoaded {
		unavailable(w)
		return
	}
	unauthorized(w, refusal.Reason, refusal.errCode, refusal.Message)
}

// Refusal is why Check refused a request's credentials.
type Refusal struct {
	// Reason is extensions.reason: code.ReasonMissing, ReasonExpired,
	// ReasonInvalid, or ReasonKeysNotLoaded (retry; the token may be fine).
	Reason string
	// Message says what was wrong, for the client.
	Message string
	errCode string // RFC 6750's error attribute
}

// Check verifies the Authorization values a request sent (an HTTP request's
// headers, a WebSocket connection_init's payload) with a: exactly one,
// "Bearer <token>", valid. At debug level each refusal is logged with its
// cause, never with the token.
func Check(ctx context.Context, a Authenticator, logger *slog.Logger, values []string) (Identity, *Refusal) {
	refuse := func(reason, errCode, message string, cause error) (Identity, *Refusal) {
		why := message
		if cause != nil {
			why = cause.Error()
		}
		logger.DebugContext(ctx, "auth: token refused", "reason", reason, "cause", why)
		return Identity{}, &Refusal{Reason: reason, Message: message, errCode: errCode}
	}
	// Proxies and servers disagree on which of two headers counts, so
	// we refuse rather than pick one.
	if len(values) > 1 {
		return refuse(code.ReasonInvalid, "invalid_token", "only one Authorization header is allowed", nil)
	}
	header := ""
	if len(values) == 1 {
		header = values[0]
	}
	if header == "" {
		return refuse(code.ReasonMissing, "", "an Authorization: Bearer token is required", nil)
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return refuse(code.ReasonInvalid, "invalid_token", "the Authorization header must be \"Bearer <token>\"", nil)
	}
	id, err := a.Authenticate(ctx, token)
	switch {
	case errors.Is(err, ErrKeysNotLoaded):
		logger.DebugContext(ctx, "auth: token not checked", "reason", code.ReasonKeysNotLoaded, "cause", err.Error())
		return Identity{}, &Refusal{Reason: code.ReasonKeysNotLoaded, Message: "the server has not loaded the token signing keys yet: try again shortly"}
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(code.ReasonExpired, "invalid_token", "the token has expired", err)
	case err != nil:
		return refuse(code.ReasonInvalid, "invalid_token", "the token is invalid", err)
	}
	return id, nil
}

// unauthorized writes a 401. errCode is the RFC 6750 error attribute; it is
// left out when no credentials were sent at all (RFC 6750 §3.1).
func unauthorized(w http.ResponseWriter, reason, errCode, message string) {
	challenge := `Bearer realm="tasks"`
	if errCode != "" {
		challenge += fmt.Sprintf(`, error=%q, error_description=%q`, errCode, message)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, code.UnauthenticatedError(reason, message))
}

// unavailable writes the 503 for a token that cannot be checked yet.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", fmt.Sprint(RetryAfter))
	writeError(w, http.StatusServiceUnavailable, code.UnavailableError(code.ReasonKeysNotLoaded,
		"the server has not loaded the token signing keys yet: try again shortly"))
}

func writeError(w http.ResponseWriter, status int, e *gqlerror.Error) {
	// The request id the server put on the answer, as every other error
	// carries it (the header's name is telemetry.RequestIDHeader).
	if id := w.Header().Get("X-Request-Id"); id != "" {
		e.Extensions["requestId"] = id
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Errors gqlerror.List `json:"errors"`
	}{gqlerror.List{e}})
}
