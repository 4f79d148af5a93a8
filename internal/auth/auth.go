// Package auth verifies the Better Auth JWT on each request and puts its
// subject into the context as the viewer. A request without a valid token
// is answered 401 here and never reaches GraphQL.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/viewer"
)

// MinSecretLen is the shortest secret accepted: RFC 7518 §3.2 wants a key
// of at least 256 bits for HS256.
const MinSecretLen = 32

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// ErrShortSecret is returned for a secret under MinSecretLen bytes.
var ErrShortSecret = fmt.Errorf("BETTER_AUTH_SECRET must be at least %d bytes (RFC 7518 wants 256 bits for HS256)", MinSecretLen)

// Config says which tokens are accepted.
type Config struct {
	// Secret is the HS256 key: the bytes of BETTER_AUTH_SECRET as given.
	Secret []byte
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be among the token's aud.
	Audience string
}

// CacheSize is how many verified tokens a Verifier remembers. A client sends
// the same token until it expires; decoding it again costs more than the
// HMAC (about a tenth of a small request's CPU).
const CacheSize = 10_000

// MaxTokenBytes is the longest token Verify decodes. Real tokens take a few
// hundred bytes to a few KiB; decoding a stranger's JSON header allocates up
// to some 60 bytes per byte, so the cap keeps that near a megabyte.
const MaxTokenBytes = 16 << 10

// Verifier checks tokens against a Config.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	now    func() time.Time
	// verified maps a token, signature and all, to what it said. Only
	// tokens that passed every check get in; a hit is checked for expiry
	// again, the one check whose answer changes with time.
	verified *lru.Cache[string, verified]
}

type verified struct {
	sub string
	exp time.Time
}

// NewVerifier returns a Verifier, refusing a secret that is too short.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, ErrShortSecret
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		// One spelling per token: without it the unused low bits of the
		// signature's last character may differ, and one token becomes four.
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &Verifier{cfg: cfg, now: time.Now}
	v.parser = jwt.NewParser(append(opts, jwt.WithTimeFunc(func() time.Time { return v.now() }))...)
	v.verified, _ = lru.New[string, verified](CacheSize) // errs only on a size ≤ 0
	return v, nil
}

// Verify returns the subject of a valid token.
func (v *Verifier) Verify(token string) (string, error) {
	if hit, ok := v.verified.Get(token); ok {
		// The parser's own rule: valid until exp plus the leeway.
		if v.now().Before(hit.exp.Add(Leeway)) {
			return hit.sub, nil
		}
		v.verified.Remove(token) // and parse again, for the precise error
	}
	if len(token) > MaxTokenBytes {
		return "", errLongToken
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.key); err != nil {
		return "", err
	}
	if err := checkSubject(c.Subject); err != nil {
		return "", err
	}
	v.verified.Add(token, verified{sub: c.Subject, exp: c.ExpiresAt.Time})
	return c.Subject, nil
}

// key is the parser's Keyfunc. It also refuses crit: RFC 7515 §4.1.11 makes
// a token naming an extension we do not understand invalid, and we
// understand none, so even an empty or malformed crit is refused.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	return v.cfg.Secret, nil
}

// Sign returns an HS256 token for sub that expires after ttl, with the
// configured issuer and audience: for development and tests.
func (v *Verifier) Sign(sub string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   sub,
		Issuer:    v.cfg.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if v.cfg.Audience != "" {
		claims.Audience = jwt.ClaimStrings{v.cfg.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(v.cfg.Secret)
}

// Middleware verifies the bearer token and stores the viewer in the
// request context, or answers 401 with an RFC 6750 WWW-Authenticate header.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Proxies and servers disagree on which of two headers counts, so
		// we refuse rather than pick one.
		values := r.Header.Values("Authorization")
		if len(values) > 1 {
			unauthorized(w, gqlerr.ReasonInvalid, "invalid_token", "only one Authorization header is allowed")
			return
		}
		header := ""
		if len(values) == 1 {
			header = values[0]
		}
		if header == "" {
			unauthorized(w, gqlerr.ReasonMissing, "", "an Authorization: Bearer token is required")
			return
		}
		scheme, token, ok := strings.Cut(header, " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			unauthorized(w, gqlerr.ReasonInvalid, "invalid_token", "the Authorization header must be \"Bearer <token>\"")
			return
		}
		sub, err := v.Verify(token)
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			unauthorized(w, gqlerr.ReasonExpired, "invalid_token", "the token has expired")
			return
		case err != nil:
			unauthorized(w, gqlerr.ReasonInvalid, "invalid_token", "the token is invalid")
			return
		}
		ctx := viewer.NewContext(r.Context(), viewer.Viewer{Subject: sub})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// unauthorized writes a 401. errCode is the RFC 6750 error attribute; it is
// left out when no credentials were sent at all (RFC 6750 §3.1).
func unauthorized(w http.ResponseWriter, reason, errCode, message string) {
	challenge := `Bearer realm="tasks"`
	if errCode != "" {
		challenge += fmt.Sprintf(`, error=%q, error_description=%q`, errCode, message)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(struct {
		Errors gqlerror.List `json:"errors"`
	}{gqlerror.List{gqlerr.UnauthenticatedError(reason, message)}})
}
