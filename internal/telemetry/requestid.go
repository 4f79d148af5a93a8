package telemetry

import (
	"context"
	"crypto/rand"
	"net/http"
)

// RequestIDHeader carries a request's id, in and out.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an id a client sends: it lands in every log line
// and error of its request.
const maxRequestIDLen = 64

type requestIDKey struct{}

// RequestID is the id AssignRequestID gave ctx's request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// AssignRequestID gives every request an id: the client's X-Request-Id when
// it is 1 to 64 characters of [A-Za-z0-9._-] (a proxy's or a client's own,
// so their logs and ours meet), else a new random one. The id goes back in
// the response's X-Request-Id and into the request's context (RequestID).
func AssignRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !wellFormedRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func wellFormedRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
