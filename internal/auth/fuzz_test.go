package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/taskapi/server/internal/auth"
)

// Inputs up to fuzzInputMax bytes in all (the server's MaxHeaderBytes) may
// allocate at most fuzzAllocMax bytes in Verify. Nested JSON in a header is
// the dearest text to decode, at some 400 bytes a level; MaxTokenBytes
// keeps that near a megabyte.
const (
	fuzzInputMax = 64 << 10
	fuzzAllocMax = 2 << 20
)

// fuzzNow is the fuzz verifier's clock, so a seed's verdict never changes.
var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// FuzzVerify sends token as it is, and header.payload signed with the test
// secret (the HS256 header when header is empty), so that mutations of the
// payload get past the signature to the claims. Either must be refused, or
// accepted with a subject the database can store and that the payload
// spells exactly.
func FuzzVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, token string, header, payload []byte) {
		if len(token)+len(header)+len(payload) > fuzzInputMax {
			t.Skip("over the size the allocation bound is for")
		}
		v, err := newVerifier(auth.Config{Secret: []byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		auth.SetClock(v.Cache, func() time.Time { return fuzzNow })
		verifyOnce(t, v, token, nil)
		if len(header) == 0 {
			header = []byte(hs256Header)
		}
		verifyOnce(t, v, signRaw(t, string(header), string(payload)), payload)
	})
}

// verifyOnce verifies tok twice (the second time from the cache) and checks
// what was accepted against the rules, and against payload when it is known.
func verifyOnce(t *testing.T, v *verifier, tok string, payload []byte) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sub, err := v.Verify(tok)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > fuzzAllocMax {
		t.Fatalf("Verify allocated %d bytes for a token of %d", n, len(tok))
	}
	again, errAgain := v.Verify(tok)
	if again != sub || (err == nil) != (errAgain == nil) {
		t.Fatalf("asked twice: %q, %v then %q, %v", sub, err, again, errAgain)
	}
	if err != nil {
		if sub != "" {
			t.Fatalf("refused (%v) with a subject %q", err, sub)
		}
		return
	}
	switch {
	case !utf8.ValidString(sub):
		t.Fatalf("accepted a subject that is not UTF-8: %q", sub)
	case strings.IndexByte(sub, 0) >= 0:
		t.Fatalf("accepted a subject with NUL: %q", sub)
	case len(sub) > auth.MaxSubjectBytes:
		t.Fatalf("accepted a subject of %d bytes", len(sub))
	case strings.TrimSpace(sub) == "":
		t.Fatalf("accepted a blank subject %q", sub)
	}
	var header map[string]any
	seg, _, _ := strings.Cut(tok, ".")
	if b, err := base64.RawURLEncoding.DecodeString(seg); err != nil || json.Unmarshal(b, &header) != nil {
		t.Fatalf("accepted %q, whose header does not decode", tok)
	}
	if _, ok := header["crit"]; ok || header["alg"] != "HS256" {
		t.Fatalf("accepted a token with header %v", header)
	}
	if payload != nil {
		checkAccepted(t, payload, sub)
	}
}

// checkAccepted holds an accepted payload to the rules, read with
// encoding/json as a second opinion.
func checkAccepted(t *testing.T, payload []byte, sub string) {
	t.Helper()
	if !utf8.Valid(payload) {
		t.Fatalf("accepted a payload that is not UTF-8: %q", payload)
	}
	// json writes U+FFFD for what it cannot decode: accepted text must
	// decode to no more of them than it spells.
	var decoded any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatalf("accepted a payload json cannot decode: %v", err)
	}
	spelled := bytes.Count(payload, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(payload), []byte(`\ufffd`))
	if n := countReplacements(decoded); n > spelled {
		t.Fatalf("accepted %q, which json decodes with %d U+FFFD where it spells %d", payload, n, spelled)
	}
	claims, ok := decoded.(map[string]any)
	if !ok {
		t.Fatalf("accepted a payload that is not an object: %q", payload)
	}
	if claims["sub"] != sub {
		t.Fatalf("accepted %q with subject %q, but json reads sub as %#v", payload, sub, claims["sub"])
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		c, ok := claims[name]
		if !ok {
			if name == "exp" {
				t.Fatalf("accepted %q without exp", payload)
			}
			continue
		}
		n, ok := c.(json.Number)
		if !ok {
			t.Fatalf("accepted %q with %s %#v, not a number", payload, name, c)
		}
		if f, err := n.Float64(); err != nil || f < 0 || f > 253402300799 {
			t.Fatalf("accepted %q with %s %s, not a date in 1970–9999", payload, name, n)
		}
	}
}

// countReplacements counts U+FFFD in every string and member name of v.
func countReplacements(v any) int {
	switch v := v.(type) {
	case string:
		return strings.Count(v, "\uFFFD")
	case []any:
		n := 0
		for _, e := range v {
			n += countReplacements(e)
		}
		return n
	case map[string]any:
		n := 0
		for k, e := range v {
			n += strings.Count(k, "\uFFFD") + countReplacements(e)
		}
		return n
	}
	return 0
}
