package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskapi/server/internal/auth"
)

// FuzzJWKS signs header.payload with the Ed25519 key of a local key set,
// so mutations reach the header checks and the claims. A token is accepted
// only with the key's own algorithm and kid, no header naming another key,
// and Better Auth's issuer and audience; and then with a storable subject.
func FuzzJWKS(f *testing.F) {
	k := newKey(f, "ed", "EdDSA")
	j := newJWKS(f, newKeyServer(f, k), auth.JWKSConfig{Refetch: time.Hour})
	exp := time.Now().Add(24 * time.Hour).Unix()
	payload := func(extra string) string {
		return `{"sub":"alice","iss":"` + authURL + `","aud":"` + authURL + `","exp":` + jsonInt(exp) + extra + `}`
	}
	for _, seed := range [][2]string{
		{`{"alg":"EdDSA","kid":"ed"}`, payload("")},
		{`{"alg":"EdDSA","kid":"ed","typ":"JWT"}`, payload(`,"aud":["x"]`)},
		{`{"alg":"ES256","kid":"ed"}`, payload("")},
		{`{"alg":"EdDSA"}`, payload("")},
		{`{"alg":"EdDSA","kid":"ed","jku":"http://127.0.0.1:1/"}`, payload("")},
		{`{"alg":"EdDSA","kid":"ed","crit":[]}`, payload("")},
		{`{"alg":"EdDSA","kid":"other"}`, payload("")},
		{`{"alg":"EdDSA","kid":"ed"}`, `{"sub":"alice","iss":"x","aud":"x","exp":1e300}`},
	} {
		f.Add(seed[0], seed[1])
	}
	enc := base64.RawURLEncoding
	f.Fuzz(func(t *testing.T, header, claims string) {
		if len(header)+len(claims) > auth.MaxTokenBytes {
			t.Skip()
		}
		unsigned := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
		tok := unsigned + "." + enc.EncodeToString(ed25519.Sign(k.priv.(ed25519.PrivateKey), []byte(unsigned)))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		id, err := j.Authenticate(ctx, tok)
		if err != nil {
			return
		}
		var h map[string]any
		if json.Unmarshal([]byte(header), &h) != nil || h["alg"] != "EdDSA" || h["kid"] != "ed" {
			t.Fatalf("accepted with header %s", header)
		}
		for _, name := range []string{"jku", "x5u", "jwk", "x5c", "crit"} {
			if _, ok := h[name]; ok {
				t.Fatalf("accepted with %s in header %s", name, header)
			}
		}
		var c struct {
			Iss string `json:"iss"`
		}
		if json.Unmarshal([]byte(claims), &c) != nil || c.Iss != authURL {
			t.Fatalf("accepted with payload %s", claims)
		}
		if id.Subject == "" || len(id.Subject) > auth.MaxSubjectBytes || strings.IndexByte(id.Subject, 0) >= 0 {
			t.Fatalf("accepted subject %q", id.Subject)
		}
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
