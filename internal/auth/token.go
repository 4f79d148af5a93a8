package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// parserOptions are the checks every mode makes; methods are the mode's
// one family of algorithms, so a token's header never picks the kind of key.
func parserOptions(methods []string, now func() time.Time) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		// One spelling per token: without it the unused low bits of the
		// signature's last character may differ, and one token becomes four.
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return now() }),
	}
}

// parse verifies token with p and key, then checks what golang-jwt leaves
// to us: the subject, and issuer and audience (when set) with errors that
// say what was received and what was expected.
func parse(p *jwt.Parser, token string, key jwt.Keyfunc, issuer, audience string, slashOptional bool, now func() time.Time) (Identity, error) {
	same := func(got, want string) bool {
		return got == want || slashOptional && strings.TrimSuffix(got, "/") == strings.TrimSuffix(want, "/")
	}
	if len(token) > MaxTokenBytes {
		return Identity{}, errLongToken
	}
	var c claims
	if _, err := p.ParseWithClaims(token, &c, key); err != nil {
		if c.ExpiresAt != nil && errors.Is(err, jwt.ErrTokenExpired) {
			return Identity{}, fmt.Errorf("%w (%s past exp)", err, now().Sub(c.ExpiresAt.Time).Round(time.Second))
		}
		return Identity{}, err
	}
	if issuer != "" && !same(c.Issuer, issuer) {
		return Identity{}, fmt.Errorf("%w: received iss %q, expected %q", jwt.ErrTokenInvalidIssuer, clip(c.Issuer), issuer)
	}
	if audience != "" && !slices.ContainsFunc(c.Audience, func(a string) bool { return same(a, audience) }) {
		return Identity{}, fmt.Errorf("%w: received aud %q, expected %q among them", jwt.ErrTokenInvalidAudience, clipAll(c.Audience), audience)
	}
	if err := checkSubject(c.Subject); err != nil {
		return Identity{}, err
	}
	return Identity{Subject: c.Subject, Expires: c.ExpiresAt.Time}, nil
}

// clip shortens a received value for the log: it comes from a signed
// token, but a log line has no use for kilobytes of it.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func clipAll(ss []string) []string {
	const max = 5
	out := make([]string, 0, min(len(ss), max))
	for i, s := range ss {
		if i == max {
			out = append(out, "…")
			break
		}
		out = append(out, clip(s))
	}
	return out
}
