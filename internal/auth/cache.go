package auth

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// CacheSize is how many verified tokens a Cache remembers. A client sends
// the same token until it expires; decoding it again costs more than the
// HMAC (about a tenth of a small request's CPU).
const CacheSize = 10_000

// Cache remembers the tokens another Authenticator accepted. Only tokens
// that passed every check get in; a hit is checked for expiry again, the
// one check whose answer changes with time. When the inner Authenticator's
// keys change (a JWKS refresh), remembered tokens are verified afresh, so a
// key withdrawn from the set stops working with the refresh.
type Cache struct {
	next     Authenticator
	now      func() time.Time
	verified *lru.Cache[string, cached]
}

type cached struct {
	id  Identity
	gen uint64
}

// generationer is an Authenticator whose keys can change; Generation
// changes with them.
type generationer interface{ Generation() uint64 }

// NewCache returns a Cache of up to size tokens in front of next.
func NewCache(next Authenticator, size int) *Cache {
	c := &Cache{next: next, now: time.Now}
	c.verified, _ = lru.New[string, cached](max(size, 1)) // errs only on a size ≤ 0
	return c
}

// Authenticate answers from memory or asks the wrapped Authenticator.
func (c *Cache) Authenticate(ctx context.Context, token string) (Identity, error) {
	gen := c.generation()
	if hit, ok := c.verified.Get(token); ok {
		// The parser's own rule: valid until exp plus the leeway.
		if hit.gen == gen && c.now().Before(hit.id.Expires.Add(Leeway)) {
			return hit.id, nil
		}
		c.verified.Remove(token) // and verify again, for the precise error
	}
	id, err := c.next.Authenticate(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	c.verified.Add(token, cached{id: id, gen: gen})
	return id, nil
}

// Ready passes on the wrapped Authenticator's readiness.
func (c *Cache) Ready() error { return Ready(c.next) }

// Forget empties the cache, so the next Authenticate asks again.
func (c *Cache) Forget() { c.verified.Purge() }

func (c *Cache) generation() uint64 {
	if g, ok := c.next.(generationer); ok {
		return g.Generation()
	}
	return 0
}
