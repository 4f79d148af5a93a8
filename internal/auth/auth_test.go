package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/viewer"
)

const secret = "0123456789abcdef0123456789abcdef"

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func valid(overrides jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// serve runs one request with an Authorization header for each non-empty
// header through the middleware and reports the status, the viewer the next
// handler saw, and the decoded 401 body.
func serve(t *testing.T, v *verifier, headers ...string) (int, string, http.Header, map[string]any) {
	t.Helper()
	var seen string
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vw, ok := viewer.FromContext(r.Context())
		if !ok {
			t.Error("next handler ran without a viewer")
		}
		seen = vw.Subject
	}))
	req := httptest.NewRequest(http.MethodPost, "/query", nil)
	for _, h := range headers {
		if h != "" {
			req.Header.Add("Authorization", h)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var ext map[string]any
	if rec.Code == http.StatusUnauthorized {
		var body struct {
			Errors []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
			t.Fatalf("401 body is not one GraphQL error: %s", rec.Body)
		}
		ext = body.Errors[0].Extensions
		if body.Errors[0].Message == "" {
			t.Error("401 error has no message")
		}
	}
	return rec.Code, seen, rec.Header(), ext
}

func TestMiddleware(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(c jwt.MapClaims) string { return "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(secret), c) }

	t.Run("a valid token reaches the handler with its subject", func(t *testing.T) {
		code, sub, _, _ := serve(t, v, hs(valid(nil)))
		if code != 200 || sub != "alice" {
			t.Errorf("status %d, subject %q", code, sub)
		}
	})
	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		if code, _, _, _ := serve(t, v, "bearer "+sign(t, jwt.SigningMethodHS256, []byte(secret), valid(nil))); code != 200 {
			t.Errorf("status %d", code)
		}
	})
	t.Run("expiry within the leeway is accepted", func(t *testing.T) {
		code, _, _, _ := serve(t, v, hs(valid(jwt.MapClaims{"exp": time.Now().Add(-auth.Leeway / 2).Unix()})))
		if code != 200 {
			t.Errorf("status %d", code)
		}
	})

	refused := []struct {
		name, header, reason string
	}{
		{"no header", "", gqlerr.ReasonMissing},
		{"another scheme", "Basic YWxpY2U6c2VjcmV0", gqlerr.ReasonInvalid},
		{"bearer without a token", "Bearer ", gqlerr.ReasonInvalid},
		{"not a JWT", "Bearer not.a.jwt", gqlerr.ReasonInvalid},
		{"expired", hs(valid(jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()})), gqlerr.ReasonExpired},
		{"no exp", hs(valid(jwt.MapClaims{"exp": nil})), gqlerr.ReasonInvalid},
		{"not yet valid", hs(valid(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})), gqlerr.ReasonInvalid},
		{"issued in the future", hs(valid(jwt.MapClaims{"iat": time.Now().Add(time.Hour).Unix()})), gqlerr.ReasonInvalid},
		{"no sub", hs(valid(jwt.MapClaims{"sub": nil})), gqlerr.ReasonInvalid},
		{"empty sub", hs(valid(jwt.MapClaims{"sub": ""})), gqlerr.ReasonInvalid},
		{"blank sub", hs(valid(jwt.MapClaims{"sub": "  "})), gqlerr.ReasonInvalid},
		{"sub not a string", hs(valid(jwt.MapClaims{"sub": 42})), gqlerr.ReasonInvalid},
		{"signed with another secret", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), valid(nil)), gqlerr.ReasonInvalid},
		{"HS384 with the right secret", "Bearer " + sign(t, jwt.SigningMethodHS384, []byte(secret), valid(nil)), gqlerr.ReasonInvalid},
		{"HS512 with the right secret", "Bearer " + sign(t, jwt.SigningMethodHS512, []byte(secret), valid(nil)), gqlerr.ReasonInvalid},
		{"RS256", "Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, valid(nil)), gqlerr.ReasonInvalid},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(nil)), gqlerr.ReasonInvalid},
		{"tampered payload", tamper(hs(valid(nil))), gqlerr.ReasonInvalid},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			code, sub, h, ext := serve(t, v, tc.header)
			if code != http.StatusUnauthorized || sub != "" {
				t.Fatalf("status %d, subject %q; want 401 and the handler not run", code, sub)
			}
			if ext["code"] != gqlerr.Unauthenticated || ext["reason"] != tc.reason {
				t.Errorf("extensions %v, want code %s reason %s", ext, gqlerr.Unauthenticated, tc.reason)
			}
			challenge := h.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer") {
				t.Errorf("WWW-Authenticate %q", challenge)
			}
			// RFC 6750 §3.1: no error attribute when no credentials were sent.
			if sent := tc.header != ""; sent != strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q for header %q", challenge, tc.header)
			}
		})
	}
}

// Behind proxies that keep different copies of a repeated header, the first
// one winning here would let a token be checked that no one else saw.
func TestTwoAuthorizationHeaders(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	alice := "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(secret), valid(nil))
	bob := "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(secret), valid(jwt.MapClaims{"sub": "bob"}))
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"the same token twice", []string{alice, alice}},
		{"two users' tokens", []string{alice, bob}},
		{"a valid token then garbage", []string{alice, "Bearer not.a.jwt"}},
		{"garbage then a valid token", []string{"Basic YWxpY2U6c2VjcmV0", alice}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			code, sub, h, ext := serve(t, v, tc.headers...)
			if code != http.StatusUnauthorized || sub != "" {
				t.Fatalf("status %d, subject %q; want 401 and the handler not run", code, sub)
			}
			if ext["reason"] != gqlerr.ReasonInvalid {
				t.Errorf("reason %v, want %s", ext["reason"], gqlerr.ReasonInvalid)
			}
			if c := h.Get("WWW-Authenticate"); !strings.Contains(c, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", c)
			}
		})
	}
}

// tamper swaps the payload for one naming bob, without re-signing.
func tamper(header string) string {
	parts := strings.Split(header, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"bob","exp":9999999999}`))
	return strings.Join(parts, ".")
}

func TestIssuerAndAudience(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret), Issuer: "https://app.example", Audience: "tasks-api"})
	if err != nil {
		t.Fatal(err)
	}
	hs := func(c jwt.MapClaims) string { return "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(secret), c) }
	cases := []struct {
		name   string
		claims jwt.MapClaims
		want   int
	}{
		{"matching iss and aud", valid(jwt.MapClaims{"iss": "https://app.example", "aud": "tasks-api"}), 200},
		{"aud among several", valid(jwt.MapClaims{"iss": "https://app.example", "aud": []string{"other", "tasks-api"}}), 200},
		{"wrong iss", valid(jwt.MapClaims{"iss": "https://evil.example", "aud": "tasks-api"}), 401},
		{"no iss", valid(jwt.MapClaims{"aud": "tasks-api"}), 401},
		{"wrong aud", valid(jwt.MapClaims{"iss": "https://app.example", "aud": "other"}), 401},
		{"no aud", valid(jwt.MapClaims{"iss": "https://app.example"}), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, _, _ := serve(t, v, hs(tc.claims)); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
	t.Run("Sign makes tokens Verify accepts", func(t *testing.T) {
		tok, err := v.Sign("carol", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if sub, err := v.Verify(tok); err != nil || sub != "carol" {
			t.Errorf("Verify = %q, %v", sub, err)
		}
	})
}

func TestShortSecretRefused(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("a", auth.MinSecretLen-1)} {
		if _, err := newVerifier(auth.Config{Secret: []byte(s)}); !errors.Is(err, auth.ErrShortSecret) {
			t.Errorf("secret of %d bytes: err = %v, want ErrShortSecret", len(s), err)
		}
	}
	if _, err := newVerifier(auth.Config{Secret: []byte(strings.Repeat("a", auth.MinSecretLen))}); err != nil {
		t.Errorf("secret of %d bytes refused: %v", auth.MinSecretLen, err)
	}
}

// Verified tokens are remembered; a remembered token still expires on time,
// and a token that differs by one character is verified afresh.
func TestRememberedTokens(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	auth.SetClock(v.Cache, func() time.Time { return now })
	exp := now.Add(time.Minute)
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), valid(jwt.MapClaims{"exp": exp.Unix()}))

	bob := sign(t, jwt.SigningMethodHS256, []byte(secret), valid(jwt.MapClaims{"sub": "bob", "exp": exp.Unix()}))
	for range 2 { // misses, then hits: each token keeps its own subject
		if sub, err := v.Verify(tok); err != nil || sub != "alice" {
			t.Fatalf("Verify(alice's token) = %q, %v", sub, err)
		}
		if sub, err := v.Verify(bob); err != nil || sub != "bob" {
			t.Fatalf("Verify(bob's token) = %q, %v", sub, err)
		}
	}
	// A character inside the signature (the last one may carry only
	// padding bits).
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	forged := tok[:i] + string(c) + tok[i+1:]
	if _, err := v.Verify(forged); err == nil {
		t.Error("a token with an altered signature was accepted")
	}

	now = exp.Add(auth.Leeway - time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("within the leeway: %v", err)
	}
	now = exp.Add(auth.Leeway + time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("past exp and leeway: %v, want ErrTokenExpired", err)
	}
	if _, err := v.Verify(tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("asked again: %v, want ErrTokenExpired", err)
	}
}
