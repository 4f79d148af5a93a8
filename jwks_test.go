package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/taskapi/server/internal/auth"
)

// betterAuth stands in for a Better Auth app with the JWT plugin: an
// Ed25519 key published at /api/auth/jwks, down while down is set.
type betterAuth struct {
	srv  *httptest.Server
	key  ed25519.PrivateKey
	down atomic.Bool
}

func newBetterAuth(t *testing.T) *betterAuth {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ba := &betterAuth{key: key}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgEdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	ba.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ba.down.Load() || r.URL.Path != "/api/auth/jwks" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(ba.srv.Close)
	return ba
}

// baseURL is BETTER_AUTH_URL as configured on both sides, trailing slash
// included: Better Auth writes it as iss and aud exactly.
func (ba *betterAuth) baseURL() string { return ba.srv.URL + "/" }

// token is what GET /api/auth/token would hand out for sub.
func (ba *betterAuth) token(t *testing.T, sub string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": sub, "iss": ba.baseURL(), "aud": ba.baseURL(), "iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
		"name": sub, "email": sub + "@example.com",
	})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(ba.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunJWKSMode(t *testing.T) {
	t.Chdir(t.TempDir())
	ba := newBetterAuth(t)
	base, stdout := startRun(t, map[string]string{"BETTER_AUTH_URL": ba.baseURL(), "BETTER_AUTH_SECRET": testSecret})
	if strings.Contains(stdout.String(), "Development mode") {
		t.Errorf("JWKS mode printed the development banner:\n%s", stdout)
	}
	const q = `{"query":"{ tasks { totalCount } }"}`
	if status, body := postQuery(t, base, ba.token(t, "alice"), q); status != 200 || !strings.Contains(body, `"totalCount":0`) {
		t.Errorf("a Better Auth token: %d %s", status, body)
	}
	s, err := auth.NewSigner(auth.Config{Secret: []byte(testSecret), Issuer: ba.baseURL(), Audience: ba.baseURL()})
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := s.Sign("alice", time.Hour)
	if status, body := postQuery(t, base, hs, q); status != http.StatusUnauthorized {
		t.Errorf("an HS256 token with BETTER_AUTH_SECRET in JWKS mode: %d %s", status, body)
	}
	if res, err := http.Get(base + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Errorf("readyz with the keys loaded: %v %v", res, err)
	}
}

// Before the key set was ever loaded, a token may be fine: 503 with
// Retry-After, not a 401 that would sign the user out; not ready.
func TestRunJWKSNotLoaded(t *testing.T) {
	t.Chdir(t.TempDir())
	ba := newBetterAuth(t)
	ba.down.Store(true)
	base, _ := startRun(t, map[string]string{"BETTER_AUTH_URL": ba.baseURL()})
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz before the keys loaded: status %d, want 503", res.StatusCode)
	}
	req, _ := http.NewRequest("POST", base+"/query", strings.NewReader(`{"query":"{ tasks { totalCount } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ba.token(t, "alice"))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"code":"UNAVAILABLE"`) {
		t.Errorf("a query before the keys loaded: %d, Retry-After %q, %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
}

func TestConfigJWKS(t *testing.T) {
	cfg, err := loadConfig(envFunc(map[string]string{"BETTER_AUTH_URL": "https://app.example/", "APP_ENV": "production"}))
	if err != nil {
		t.Fatalf("production with BETTER_AUTH_URL and no secret: %v", err)
	}
	want := auth.JWKSConfig{URL: "https://app.example/api/auth/jwks", Issuer: "https://app.example/", Audience: "https://app.example/", SlashOptional: true}
	if cfg.JWKS != want {
		t.Errorf("defaults %+v, want %+v", cfg.JWKS, want)
	}
	cfg, err = loadConfig(envFunc(map[string]string{
		"BETTER_AUTH_URL": "https://app.example", "BETTER_AUTH_JWKS_URL": "http://auth.internal:3000/keys",
		"JWT_ISSUER": "https://issuer.example", "JWT_AUDIENCE": "tasks-api", "BETTER_AUTH_SECRET": "short",
	}))
	if err != nil {
		t.Fatalf("overrides (and a short secret, which JWKS mode ignores): %v", err)
	}
	want = auth.JWKSConfig{URL: "http://auth.internal:3000/keys", Issuer: "https://issuer.example", Audience: "tasks-api"}
	if cfg.JWKS != want {
		t.Errorf("overrides %+v, want %+v", cfg.JWKS, want)
	}
	for _, env := range []map[string]string{{"BETTER_AUTH_URL": "app.example"}, {"BETTER_AUTH_URL": "https://app.example", "BETTER_AUTH_JWKS_URL": "file:///etc/keys"}} {
		if _, err := loadConfig(envFunc(env)); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

func TestTokenCommandJWKSMode(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"server", "token", "--sub", "alice"},
		envFunc(map[string]string{"BETTER_AUTH_URL": "https://app.example/", "BETTER_AUTH_SECRET": testSecret}), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "https://app.example/api/auth/token") {
		t.Errorf("token in JWKS mode: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("token in JWKS mode printed %q", out.String())
	}
}
