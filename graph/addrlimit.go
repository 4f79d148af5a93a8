package graph

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/clientaddr"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/gqlerr/code"
	"github.com/taskapi/server/internal/ratelimit"
)

// UnauthenticatedCost is what a request refused for its credentials (a 401,
// or a WebSocket's refused connection_init) spends from its client
// address's budget, in the cost units of an operation. With the default
// budget an address may send 90 such requests at once and 600 a minute,
// far more than people's clients do. Past it the answer is a 429 that says
// when to come back, and the address's refusals are answered from memory
// (ratelimit.Remember), with no round trip to Redis. The token is still
// checked first: a valid one is served whatever its address did.
const UnauthenticatedCost = 100

// addrGuard holds requests that fail authentication to their client
// address's budget. Requests with a valid token are never refused by it: a
// user behind the same NAT as a token-guessing script is still served.
type addrGuard struct {
	limiter ratelimit.Limiter // nil: no limit
	addrOf  func(*http.Request) netip.Addr
	cost    int // 0: UnauthenticatedCost
}

// spend takes UnauthenticatedCost from addr's budget, returning how long
// to wait when the budget is spent (0 when it was not).
func (g addrGuard) spend(ctx context.Context, addr netip.Addr) time.Duration {
	if g.limiter == nil || !addr.IsValid() {
		return 0
	}
	cost := g.cost
	if cost <= 0 {
		cost = UnauthenticatedCost
	}
	res, err := g.limiter.Allow(ctx, ratelimit.AddrKey(addr), cost)
	if err != nil || res.Allowed {
		return 0 // the request's context ended: the refusal it gets anyway will do
	}
	return max(res.RetryAfter, time.Second)
}

// retrySeconds rounds a wait up to whole seconds, as Retry-After counts.
func retrySeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

// tooManyUnauthenticated answers 429 for an address whose budget for
// refused credentials is spent.
func tooManyUnauthenticated(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	writeRequestErrors(w, &graphql.Response{Errors: gqlerror.List{gqlerr.WithIDs(r.Context(), &gqlerror.Error{
		Message:    fmt.Sprintf("too many requests without valid credentials from your address; retry in %d s", secs),
		Extensions: map[string]any{"code": gqlerr.RateLimited, "retryAfter": secs},
	})}})
}

// refuse is auth.Middleware's hook for refused requests: a refusal that
// counts (spendsAddressBudget) spends from its address's budget, and once
// that is spent the answer is 429 instead of 401.
func (g addrGuard) refuse(w http.ResponseWriter, r *http.Request, refusal *auth.Refusal) bool {
	if !spendsAddressBudget(refusal) {
		return false
	}
	wait := g.spend(r.Context(), g.addr(r))
	if wait <= 0 {
		return false
	}
	tooManyUnauthenticated(w, r, wait)
	return true
}

// spendsAddressBudget reports whether a refusal counts against the
// client's address: a missing or invalid token does. An expired one does
// not: its signature was good, so it came from a user whose client should
// see the 401 it refreshes on; nor does a 503 (keys not loaded), which is
// the server's doing.
func spendsAddressBudget(refusal *auth.Refusal) bool {
	return refusal.Reason == code.ReasonMissing || refusal.Reason == code.ReasonInvalid
}

func (g addrGuard) addr(r *http.Request) netip.Addr {
	if g.addrOf != nil {
		return g.addrOf(r)
	}
	return clientaddr.Peer(r)
}
