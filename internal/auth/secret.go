package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest secret accepted: RFC 7518 §3.2 wants a key
// of at least 256 bits for HS256.
const MinSecretLen = 32

// ErrShortSecret is returned for a secret under MinSecretLen bytes.
var ErrShortSecret = fmt.Errorf("BETTER_AUTH_SECRET must be at least %d bytes (RFC 7518 wants 256 bits for HS256)", MinSecretLen)

// Config says which tokens the shared-secret mode accepts.
type Config struct {
	// Secret is the HS256 key: the bytes of BETTER_AUTH_SECRET as given.
	Secret []byte
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be among the token's aud.
	Audience string
}

// SharedSecret verifies HS256 tokens signed with one secret.
type SharedSecret struct {
	cfg    Config
	parser *jwt.Parser
	now    func() time.Time
}

// NewSharedSecret returns a SharedSecret, refusing a secret that is too short.
func NewSharedSecret(cfg Config) (*SharedSecret, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, ErrShortSecret
	}
	s := &SharedSecret{cfg: cfg, now: time.Now}
	s.parser = jwt.NewParser(parserOptions([]string{jwt.SigningMethodHS256.Alg()}, func() time.Time { return s.now() })...)
	return s, nil
}

// Authenticate returns the identity of a valid token.
func (s *SharedSecret) Authenticate(_ context.Context, token string) (Identity, error) {
	return parse(s.parser, token, s.key, s.cfg.Issuer, s.cfg.Audience, false, s.now)
}

// key is the parser's Keyfunc.
func (s *SharedSecret) key(t *jwt.Token) (any, error) {
	if err := checkHeader(t); err != nil {
		return nil, err
	}
	return s.cfg.Secret, nil
}

// checkHeader refuses crit: RFC 7515 §4.1.11 makes a token naming an
// extension we do not understand invalid, and we understand none, so even
// an empty or malformed crit is refused.
func checkHeader(t *jwt.Token) error {
	if _, ok := t.Header["crit"]; ok {
		return errCritical
	}
	return nil
}

// Signer makes HS256 tokens with the shared secret, for development mode,
// the token command and tests. It verifies nothing.
type Signer struct {
	cfg Config
}

// NewSigner returns a Signer, refusing a secret that is too short.
func NewSigner(cfg Config) (*Signer, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, ErrShortSecret
	}
	return &Signer{cfg: cfg}, nil
}

// Sign returns an HS256 token for sub that expires after ttl, with the
// configured issuer and audience.
func (s *Signer) Sign(sub string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   sub,
		Issuer:    s.cfg.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if s.cfg.Audience != "" {
		claims.Audience = jwt.ClaimStrings{s.cfg.Audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.Secret)
}
