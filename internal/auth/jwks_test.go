package auth_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/gqlerr"
)

// authURL is BETTER_AUTH_URL as a Better Auth app might be configured:
// its tokens carry it as iss and aud exactly, trailing slash included.
const authURL = "https://auth.example/"

// testKey is a signing key with the kid and alg the key set publishes.
type testKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	priv   crypto.Signer
	// noAlg publishes the key without alg.
	noAlg bool
	// jwk is the key as the set publishes it (with alg).
	jwk jwkset.JWKMarshal
}

func newKey(t testing.TB, kid, alg string) *testKey {
	t.Helper()
	k := &testKey{kid: kid, alg: alg, method: jwt.GetSigningMethod(alg)}
	var err error
	switch alg {
	case "EdDSA":
		_, k.priv, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		k.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES512":
		k.priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "PS256":
		k.priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg)}})
	if err != nil {
		t.Fatal(err)
	}
	k.jwk = jwk.Marshal()
	return k
}

// sign signs claims with k, putting header fields (kid first) in the header.
func (k *testKey) sign(t testing.TB, claims jwt.MapClaims, header ...map[string]any) string {
	t.Helper()
	return k.signAs(t, k.method, claims, header...)
}

func (k *testKey) signAs(t testing.TB, m jwt.SigningMethod, claims jwt.MapClaims, header ...map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = k.kid
	for _, h := range header {
		for name, v := range h {
			if v == nil {
				delete(tok.Header, name)
			} else {
				tok.Header[name] = v
			}
		}
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// marshal is the key as the set publishes it. It is called by the key
// server's handler, so it calls nothing on a testing.TB.
func (k *testKey) marshal() jwkset.JWKMarshal {
	m := k.jwk
	if k.noAlg {
		m.ALG = ""
	}
	return m
}

// keyServer is Better Auth's /api/auth/jwks: it serves the keys it is
// given, can be down (503) or slow (answers only when released), and
// counts the requests it gets.
type keyServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []*testKey
	down    bool
	slow    bool
	release chan struct{}
	hits    atomic.Int32
}

func newKeyServer(t testing.TB, keys ...*testKey) *keyServer {
	t.Helper()
	ks := &keyServer{keys: keys, release: make(chan struct{})}
	ks.srv = httptest.NewServer(http.HandlerFunc(ks.serve))
	t.Cleanup(ks.srv.Close)
	t.Cleanup(func() { close(ks.release) }) // runs first: frees slow handlers
	return ks
}

func (ks *keyServer) serve(w http.ResponseWriter, r *http.Request) {
	ks.hits.Add(1)
	ks.mu.Lock()
	down, slow := ks.down, ks.slow
	var set jwkset.JWKSMarshal
	for _, k := range ks.keys {
		set.Keys = append(set.Keys, k.marshal())
	}
	ks.mu.Unlock()
	if slow {
		select {
		case <-ks.release:
		case <-r.Context().Done():
		}
		return
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

func (ks *keyServer) set(f func(ks *keyServer)) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	f(ks)
}

func (ks *keyServer) url() string { return ks.srv.URL + "/api/auth/jwks" }

// newJWKS is JWKS mode against ks, with Better Auth's defaults for iss and
// aud, and cfg's intervals when set.
func newJWKS(t testing.TB, ks *keyServer, cfg auth.JWKSConfig) *auth.JWKS {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.URL = ks.url()
	if cfg.Issuer == "" {
		cfg.Issuer = authURL
	}
	if cfg.Audience == "" {
		cfg.Audience = authURL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	j, err := auth.NewJWKS(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// betterAuthClaims are claims as Better Auth's JWT plugin writes them: the
// whole user record rides along.
func betterAuthClaims(overrides jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub": "alice", "iss": authURL, "aud": authURL,
		"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
		"name": "Alice", "email": "alice@example.com", "emailVerified": false,
		"id": "alice", "image": nil, "createdAt": now.Format(time.RFC3339),
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func authenticate(a auth.Authenticator, tok string) (string, error) {
	id, err := a.Authenticate(context.Background(), tok)
	return id.Subject, err
}

// waitFor polls cond until it holds, failing the test after a generous
// bound: the background refresh has no other signal.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSKeys(t *testing.T) {
	keys := []*testKey{newKey(t, "ed", "EdDSA"), newKey(t, "p256", "ES256"), newKey(t, "rsa", "RS256"),
		newKey(t, "p521", "ES512"), newKey(t, "pss", "PS256")}
	ks := newKeyServer(t, keys...)
	j := newJWKS(t, ks, auth.JWKSConfig{})
	if err := j.Ready(); err != nil {
		t.Fatalf("Ready after a successful first fetch: %v", err)
	}
	for _, k := range keys {
		t.Run(k.alg+" token is accepted", func(t *testing.T) {
			if sub, err := authenticate(j, k.sign(t, betterAuthClaims(nil))); err != nil || sub != "alice" {
				t.Errorf("Authenticate = %q, %v", sub, err)
			}
		})
	}
	t.Run("a key published without alg serves the algorithm of its type", func(t *testing.T) {
		bare := newKey(t, "bare", "RS256")
		bare.noAlg = true
		ks.set(func(ks *keyServer) { ks.keys = append(ks.keys, bare) })
		if sub, err := authenticate(j, bare.sign(t, betterAuthClaims(nil))); err != nil || sub != "alice" {
			t.Errorf("RS256 with a bare RSA key: %q, %v", sub, err)
		}
		if _, err := authenticate(j, bare.signAs(t, jwt.SigningMethodPS256, betterAuthClaims(nil))); !errors.Is(err, auth.ErrAlgMismatch) {
			t.Errorf("PS256 with a bare RSA key: %v, want ErrAlgMismatch", err)
		}
	})
}

func TestJWKSClaims(t *testing.T) {
	k := newKey(t, "ed", "EdDSA")
	j := newJWKS(t, newKeyServer(t, k), auth.JWKSConfig{})
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   error // nil: accepted
	}{
		{"iss and aud as Better Auth writes them", nil, nil},
		{"aud an array containing the audience", jwt.MapClaims{"aud": []string{"https://other.example", authURL}}, nil},
		{"aud an array without the audience", jwt.MapClaims{"aud": []string{"https://other.example", "https://auth.example"}}, jwt.ErrTokenInvalidAudience},
		{"iss of another issuer", jwt.MapClaims{"iss": "https://evil.example/"}, jwt.ErrTokenInvalidIssuer},
		{"iss without the trailing slash", jwt.MapClaims{"iss": "https://auth.example"}, jwt.ErrTokenInvalidIssuer},
		{"no iss", jwt.MapClaims{"iss": nil}, jwt.ErrTokenInvalidIssuer},
		{"aud for another audience", jwt.MapClaims{"aud": "https://other.example/"}, jwt.ErrTokenInvalidAudience},
		{"no aud", jwt.MapClaims{"aud": nil}, jwt.ErrTokenInvalidAudience},
		{"expired", jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}, jwt.ErrTokenExpired},
		{"no exp", jwt.MapClaims{"exp": nil}, jwt.ErrTokenRequiredClaimMissing},
		{"not yet valid", jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}, jwt.ErrTokenNotValidYet},
		{"no sub", jwt.MapClaims{"sub": nil}, auth.ErrNoSubject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := authenticate(j, k.sign(t, betterAuthClaims(tc.claims)))
			switch {
			case tc.want == nil && (err != nil || sub != "alice"):
				t.Errorf("Authenticate = %q, %v; want alice", sub, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("Authenticate = %q, %v; want %v", sub, err, tc.want)
			}
		})
	}
	t.Run("a trailing slash is optional only when asked", func(t *testing.T) {
		// Better Auth 1.7.25 drops the slash from its base URL in iss and aud.
		o := newJWKS(t, newKeyServer(t, k), auth.JWKSConfig{SlashOptional: true})
		for _, c := range []struct {
			iss, aud string
			ok       bool
		}{
			{"https://auth.example", "https://auth.example", true},
			{"https://auth.example/", "https://auth.example/", true},
			{"https://auth.example.evil", "https://auth.example", false},
			{"https://auth.example", "https://auth.example/x", false},
		} {
			_, err := authenticate(o, k.sign(t, betterAuthClaims(jwt.MapClaims{"iss": c.iss, "aud": c.aud})))
			if (err == nil) != c.ok {
				t.Errorf("iss %q aud %q: %v, want accepted %v", c.iss, c.aud, err, c.ok)
			}
		}
	})
	t.Run("JWT_ISSUER and JWT_AUDIENCE override", func(t *testing.T) {
		o := newJWKS(t, newKeyServer(t, k), auth.JWKSConfig{Issuer: "https://iss.example", Audience: "tasks-api"})
		if _, err := authenticate(o, k.sign(t, betterAuthClaims(jwt.MapClaims{"iss": "https://iss.example", "aud": "tasks-api"}))); err != nil {
			t.Errorf("overridden iss and aud: %v", err)
		}
		if _, err := authenticate(o, k.sign(t, betterAuthClaims(nil))); err == nil {
			t.Error("the default iss was accepted after the override")
		}
	})
}

func TestJWKSConfusions(t *testing.T) {
	ed, p256, rs := newKey(t, "ed", "EdDSA"), newKey(t, "p256", "ES256"), newKey(t, "rsa", "RS256")
	ks := newKeyServer(t, ed, p256, rs)
	j := newJWKS(t, ks, auth.JWKSConfig{Refetch: time.Hour})
	// elsewhere serves a key set of the attacker's: it must never be asked.
	attacker := newKey(t, "attacker", "RS256")
	elsewhere := newKeyServer(t, attacker)

	rsaDER, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	hsWith := func(key []byte, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, betterAuthClaims(nil))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, betterAuthClaims(nil))
		tok.Header["kid"] = "ed"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p521 := newKey(t, "p256", "ES512") // another key, claiming the ES256 key's kid
	other := newKey(t, "ed", "ES256")  // an ES256 key claiming the Ed25519 key's kid
	hitsBefore := ks.hits.Load()
	for _, tc := range []struct {
		name string
		tok  string
		want error
	}{
		{"HS256 signed with an RSA public key's bytes", hsWith(rsaDER, "rsa"), jwt.ErrTokenSignatureInvalid},
		{"HS256 signed with an Ed25519 public key's bytes", hsWith(ed.priv.Public().(ed25519.PublicKey), "ed"), jwt.ErrTokenSignatureInvalid},
		{"alg none", none(), jwt.ErrTokenSignatureInvalid},
		{"no kid", ed.sign(t, betterAuthClaims(nil), map[string]any{"kid": nil}), auth.ErrNoKID},
		{"an unknown kid", attacker.sign(t, betterAuthClaims(nil)), auth.ErrUnknownKID},
		{"a jku header", attacker.sign(t, betterAuthClaims(nil), map[string]any{"jku": elsewhere.url()}), auth.ErrKeyHeader},
		{"an x5u header", attacker.sign(t, betterAuthClaims(nil), map[string]any{"x5u": elsewhere.url()}), auth.ErrKeyHeader},
		{"a jwk header", attacker.sign(t, betterAuthClaims(nil), map[string]any{"jwk": attacker.marshal()}), auth.ErrKeyHeader},
		{"a jku header with a known kid", ed.sign(t, betterAuthClaims(nil), map[string]any{"jku": elsewhere.url()}), auth.ErrKeyHeader},
		{"the RS256 key's kid with PS256", rs.signAs(t, jwt.SigningMethodPS256, betterAuthClaims(nil)), auth.ErrAlgMismatch},
		{"the ES256 key's kid with ES512", p521.sign(t, betterAuthClaims(nil)), auth.ErrAlgMismatch},
		{"the Ed25519 key's kid with ES256", other.sign(t, betterAuthClaims(nil)), auth.ErrAlgMismatch},
		{"RS384 with the RSA key", rs.signAs(t, jwt.SigningMethodRS384, betterAuthClaims(nil)), jwt.ErrTokenSignatureInvalid},
		{"the RSA key's kid, signed by another key", attacker.sign(t, betterAuthClaims(nil), map[string]any{"kid": "rsa"}), jwt.ErrTokenSignatureInvalid},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			if sub, err := authenticate(j, tc.tok); !errors.Is(err, tc.want) {
				t.Errorf("Authenticate = %q, %v; want %v", sub, err, tc.want)
			}
		})
	}
	if n := elsewhere.hits.Load(); n != 0 {
		t.Errorf("the key set a token named was fetched %d times", n)
	}
	// One fetch for the first unknown kid, none after (Refetch is an hour).
	if n := ks.hits.Load() - hitsBefore; n > 1 {
		t.Errorf("the configured key set was fetched %d times for the refused tokens, want at most 1", n)
	}
}

// TestJWKSRotationAfterUnknownKID: a token naming an unknown kid just before
// a rotation (an attacker's, or another app's) does not lock the new key
// out: its token waits its turn for a fetch, well within its deadline.
func TestJWKSRotationAfterUnknownKID(t *testing.T) {
	a, b, stranger := newKey(t, "a", "EdDSA"), newKey(t, "b", "EdDSA"), newKey(t, "stranger", "EdDSA")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{Refresh: time.Hour}) // the default Refetch
	if _, err := authenticate(j, stranger.sign(t, betterAuthClaims(nil))); !errors.Is(err, auth.ErrUnknownKID) {
		t.Fatalf("a stranger's kid: %v", err)
	}
	ks.set(func(ks *keyServer) { ks.keys = []*testKey{a, b} })
	if sub, err := authenticate(j, b.sign(t, betterAuthClaims(nil))); err != nil || sub != "alice" {
		t.Errorf("the new key right after: %q, %v", sub, err)
	}
}

func TestJWKSRotation(t *testing.T) {
	a, b := newKey(t, "a", "EdDSA"), newKey(t, "b", "EdDSA")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{Refresh: 20 * time.Millisecond, Refetch: time.Hour})
	c := auth.NewCache(j, auth.CacheSize)
	oldTok := a.sign(t, betterAuthClaims(nil))
	if _, err := authenticate(c, oldTok); err != nil {
		t.Fatalf("key a: %v", err)
	}

	ks.set(func(ks *keyServer) { ks.keys = []*testKey{a, b} })
	t.Run("a new kid is fetched when a token names it", func(t *testing.T) {
		if sub, err := authenticate(c, b.sign(t, betterAuthClaims(nil))); err != nil || sub != "alice" {
			t.Errorf("key b: %q, %v", sub, err)
		}
	})
	t.Run("the old key, still published, keeps working", func(t *testing.T) {
		if _, err := authenticate(c, a.sign(t, betterAuthClaims(jwt.MapClaims{"sub": "bob"}))); err != nil {
			t.Errorf("key a: %v", err)
		}
	})
	t.Run("a withdrawn key is refused once the set is refreshed", func(t *testing.T) {
		ks.set(func(ks *keyServer) { ks.keys = []*testKey{b} })
		gen := j.Generation()
		waitFor(t, "the withdrawal to be seen", func() bool { return j.Generation() > gen })
		if _, err := authenticate(c, a.sign(t, betterAuthClaims(jwt.MapClaims{"sub": "carol"}))); !errors.Is(err, auth.ErrUnknownKID) {
			t.Errorf("a new token of key a: %v, want ErrUnknownKID", err)
		}
		if _, err := authenticate(c, oldTok); !errors.Is(err, auth.ErrUnknownKID) {
			t.Errorf("a remembered token of key a: %v, want ErrUnknownKID", err)
		}
	})
}

// TestJWKSSameSetKeepsTheCache: a refresh that brings the same keys (or
// more) leaves verified tokens remembered.
func TestJWKSSameSetKeepsTheCache(t *testing.T) {
	a, b := newKey(t, "a", "EdDSA"), newKey(t, "b", "EdDSA")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{Refresh: 20 * time.Millisecond})
	gen, hits := j.Generation(), ks.hits.Load()
	waitFor(t, "three refreshes", func() bool { return ks.hits.Load() >= hits+3 })
	ks.set(func(ks *keyServer) { ks.keys = []*testKey{a, b} })
	hits = ks.hits.Load()
	waitFor(t, "three more", func() bool { return ks.hits.Load() >= hits+3 })
	if g := j.Generation(); g != gen {
		t.Errorf("generation %d → %d with no key withdrawn", gen, g)
	}
}

func TestJWKSEndpointDown(t *testing.T) {
	a := newKey(t, "a", "ES256")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{Refresh: 20 * time.Millisecond})
	ks.set(func(ks *keyServer) { ks.down = true })
	hits := ks.hits.Load()
	waitFor(t, "a failed refresh", func() bool { return ks.hits.Load() > hits+1 })

	if sub, err := authenticate(j, a.sign(t, betterAuthClaims(nil))); err != nil || sub != "alice" {
		t.Errorf("a known key while the endpoint is down: %q, %v", sub, err)
	}
	if err := j.Ready(); err != nil {
		t.Errorf("Ready while the endpoint is down after a load: %v", err)
	}
	unknown := newKey(t, "new", "ES256")
	for i := range 3 { // the first may fetch; the rest are refused without
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		_, err := j.Authenticate(ctx, unknown.sign(t, betterAuthClaims(nil)))
		took := time.Since(start)
		cancel()
		if !errors.Is(err, auth.ErrUnknownKID) {
			t.Errorf("unknown kid %d: %v, want ErrUnknownKID", i, err)
		}
		if took > 2*time.Second { // a generous bound: the deadline is 30s
			t.Errorf("unknown kid %d refused after %s", i, took)
		}
	}
}

func TestJWKSSlowEndpoint(t *testing.T) {
	a := newKey(t, "a", "RS256")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{HTTPTimeout: time.Minute})
	ks.set(func(ks *keyServer) { ks.slow = true })
	unknown := newKey(t, "new", "RS256")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := j.Authenticate(ctx, unknown.sign(t, betterAuthClaims(nil)))
	took := time.Since(start)
	if !errors.Is(err, auth.ErrUnknownKID) {
		t.Errorf("unknown kid with a slow endpoint: %v, want ErrUnknownKID", err)
	}
	if took > 2*time.Second { // a generous bound: the fetch takes a minute
		t.Errorf("a request with a 100ms deadline waited %s", took)
	}
	if ks.hits.Load() < 2 {
		t.Errorf("the unknown kid caused no fetch (%d requests in all)", ks.hits.Load())
	}
	if _, err := authenticate(j, a.sign(t, betterAuthClaims(nil))); err != nil {
		t.Errorf("a known key while the endpoint is slow: %v", err)
	}
}

func TestJWKSNotLoaded(t *testing.T) {
	a := newKey(t, "a", "EdDSA")
	ks := newKeyServer(t, a)
	ks.set(func(ks *keyServer) { ks.down = true })
	j := newJWKS(t, ks, auth.JWKSConfig{Retry: 10 * time.Millisecond})
	if err := j.Ready(); !errors.Is(err, auth.ErrKeysNotLoaded) {
		t.Fatalf("Ready with the endpoint down from the start: %v", err)
	}
	c := auth.NewCache(j, auth.CacheSize)
	if err := auth.Ready(c); !errors.Is(err, auth.ErrKeysNotLoaded) {
		t.Errorf("the Cache hides its Authenticator's readiness: %v", err)
	}
	h := auth.Middleware(c, slog.New(slog.NewTextHandler(io.Discard, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	do := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/query", nil)
		req.Header.Set("Authorization", "Bearer "+a.sign(t, betterAuthClaims(nil)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before the first load: status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body struct {
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 ||
		body.Errors[0].Extensions["code"] != gqlerr.Unavailable || body.Errors[0].Extensions["reason"] != gqlerr.ReasonKeysNotLoaded {
		t.Errorf("503 body %s", rec.Body)
	}
	ks.set(func(ks *keyServer) { ks.down = false })
	waitFor(t, "the first load", func() bool { return j.Ready() == nil })
	if rec := do(); rec.Code != http.StatusOK {
		t.Errorf("after the first load: status %d", rec.Code)
	}
}

// A remembered token is answered without decoding it again.
func TestJWKSCache(t *testing.T) {
	a := newKey(t, "a", "ES256")
	j := newJWKS(t, newKeyServer(t, a), auth.JWKSConfig{})
	c := auth.NewCache(j, auth.CacheSize)
	tok := a.sign(t, betterAuthClaims(nil))
	if _, err := authenticate(c, tok); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = authenticate(c, tok) }); allocs != 0 {
		t.Errorf("a remembered token: %.0f allocations, want 0 (decoded again?)", allocs)
	}
	if allocs := testing.AllocsPerRun(10, func() { _, _ = authenticate(j, tok) }); allocs == 0 {
		t.Error("the uncached path allocates nothing: this test proves nothing")
	}
	now := time.Now().Add(time.Hour)
	auth.SetClock(c, func() time.Time { return now })
	if _, err := authenticate(c, tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("a remembered token past exp: %v, want ErrTokenExpired", err)
	}
}

// At debug level each refusal says why, with what was received and what
// was expected; never the token, nor the claims that ride along.
func TestJWKSRefusalsLogged(t *testing.T) {
	a := newKey(t, "a", "EdDSA")
	j := newJWKS(t, newKeyServer(t, a), auth.JWKSConfig{Refetch: time.Hour})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := auth.Middleware(j, logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range []struct {
		name string
		tok  string
		want []string
	}{
		{"wrong issuer", a.sign(t, betterAuthClaims(jwt.MapClaims{"iss": "https://auth.example"})), []string{`received iss \"https://auth.example\"`, `expected \"https://auth.example/\"`}},
		{"wrong audience", a.sign(t, betterAuthClaims(jwt.MapClaims{"aud": []string{"x"}})), []string{`received aud [\"x\"]`, `expected \"https://auth.example/\"`}},
		{"expired", a.sign(t, betterAuthClaims(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), []string{"reason=expired", "past exp"}},
		{"unknown kid", newKey(t, "zz", "EdDSA").sign(t, betterAuthClaims(nil)), []string{`kid \"zz\"`}},
		{"alg not allowed", sign(t, jwt.SigningMethodHS256, []byte(secret), betterAuthClaims(nil)), []string{"HS256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest(http.MethodPost, "/query", nil)
			req.Header.Set("Authorization", "Bearer "+tc.tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d", rec.Code)
			}
			out := logs.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("log %q lacks %q", out, w)
				}
			}
			for _, secret := range []string{tc.tok, strings.Split(tc.tok, ".")[1], "alice@example.com"} {
				if strings.Contains(out, secret) {
					t.Errorf("log %q shows %q", out, secret)
				}
			}
		})
	}
}

// TestJWKSRotationBurst: requests arriving together with a just-rotated kid
// share one fetch and all get in; none is refused for coming second.
func TestJWKSRotationBurst(t *testing.T) {
	a, b := newKey(t, "a", "EdDSA"), newKey(t, "b", "EdDSA")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{Refresh: time.Hour})
	ks.set(func(ks *keyServer) { ks.keys = []*testKey{a, b} })
	tok := b.sign(t, betterAuthClaims(nil))
	before := ks.hits.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := authenticate(j, tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a request of the burst: %v", err)
		}
	}
	if n := ks.hits.Load() - before; n > 2 {
		t.Errorf("%d fetches for one new kid", n)
	}
}

// TestJWKSBoundedWait: a request with no deadline of its own (the auth
// middleware runs before the request's) waits at most about two seconds
// on a key set endpoint that never answers.
func TestJWKSBoundedWait(t *testing.T) {
	a := newKey(t, "a", "EdDSA")
	ks := newKeyServer(t, a)
	j := newJWKS(t, ks, auth.JWKSConfig{Refresh: time.Hour})
	ks.set(func(ks *keyServer) { ks.slow = true })
	stranger := newKey(t, "stranger", "EdDSA")
	start := time.Now()
	if _, err := authenticate(j, stranger.sign(t, betterAuthClaims(nil))); !errors.Is(err, auth.ErrUnknownKID) {
		t.Errorf("unknown kid: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second { // generous: it was 7 s
		t.Errorf("waited %v", took)
	}
}

// TestJWKSLargeSetRefused: a key set answer over a megabyte is refused, not
// decoded into memory.
func TestJWKSLargeSetRefused(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"EdDSA","kid":"`)
		chunk := strings.Repeat("k", 1<<16)
		for range 64 { // 4 MiB
			fmt.Fprint(w, chunk)
		}
		fmt.Fprint(w, `"}]}`)
	}))
	t.Cleanup(huge.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	j, err := auth.NewJWKS(ctx, auth.JWKSConfig{URL: huge.URL, Issuer: authURL, Audience: authURL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if auth.Ready(j) == nil {
		t.Error("a 4 MiB key set was loaded")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("reading it allocated %d MB", n>>20)
	}
}
