package auth_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/gqlerr"
)

const hs256Header = `{"alg":"HS256","typ":"JWT"}`

// signRaw signs header and payload byte for byte, so a test can send JSON
// that json.Marshal would never write.
func signRaw(t testing.TB, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + enc.EncodeToString(sig)
}

// A signed token is still refused when its payload says something the
// database cannot store, or that encoding/json would quietly change.
func TestHostilePayloads(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	long := strings.Repeat("a", auth.MaxSubjectBytes+1)

	refused := []struct {
		name, header, payload string
		cause                 error
	}{
		{"sub with an escaped NUL", "", `{"sub":"ali\u0000ce","exp":EXP}`, auth.ErrNULSubject},
		{"sub one byte over MaxSubjectBytes", "", `{"sub":"` + long + `","exp":EXP}`, auth.ErrLongSubject},
		{"sub of 128 two-byte characters", "", `{"sub":"` + strings.Repeat("é", 128) + `","exp":EXP}`, auth.ErrLongSubject},
		{"sub ending in a lone high surrogate", "", `{"sub":"victim\ud800","exp":EXP}`, auth.ErrLoneSurrogate},
		{"sub ending in another lone high surrogate", "", `{"sub":"victim\udbff","exp":EXP}`, auth.ErrLoneSurrogate},
		{"sub with an upper-case lone surrogate", "", `{"sub":"victim\uD800","exp":EXP}`, auth.ErrLoneSurrogate},
		{"sub ending in a lone low surrogate", "", `{"sub":"victim\udc00","exp":EXP}`, auth.ErrLoneSurrogate},
		{"high surrogate then another escape", "", `{"sub":"victim\ud800\u0041","exp":EXP}`, auth.ErrLoneSurrogate},
		{"high surrogate then text", "", `{"sub":"victim\ud800x","exp":EXP}`, auth.ErrLoneSurrogate},
		{"two high surrogates", "", `{"sub":"victim\ud800\ud800","exp":EXP}`, auth.ErrLoneSurrogate},
		{"surrogates in the wrong order", "", `{"sub":"victim\ude00\ud83d","exp":EXP}`, auth.ErrLoneSurrogate},
		{"lone surrogate in another claim", "", `{"sub":"alice","name":"\ud800","exp":EXP}`, auth.ErrLoneSurrogate},
		{"lone surrogate in a key", "", `{"sub":"alice","\udfff":1,"exp":EXP}`, auth.ErrLoneSurrogate},
		{"invalid UTF-8 in sub", "", "{\"sub\":\"victim\xff\",\"exp\":EXP}", auth.ErrInvalidUTF8},
		{"truncated UTF-8 in another claim", "", "{\"sub\":\"alice\",\"name\":\"\xc3\",\"exp\":EXP}", auth.ErrInvalidUTF8},
		{"a surrogate encoded in UTF-8", "", "{\"sub\":\"victim\xed\xa0\x80\",\"exp\":EXP}", auth.ErrInvalidUTF8},
		{"an overlong UTF-8 encoding", "", "{\"sub\":\"victim\xc0\xaf\",\"exp\":EXP}", auth.ErrInvalidUTF8},
		{"exp as a numeric string", "", `{"sub":"alice","exp":"EXP"}`, auth.ErrDateNotNumber},
		{"nbf as a numeric string", "", `{"sub":"alice","exp":EXP,"nbf":"1"}`, auth.ErrDateNotNumber},
		{"iat as a numeric string", "", `{"sub":"alice","exp":EXP,"iat":"1"}`, auth.ErrDateNotNumber},
		{"exp null", "", `{"sub":"alice","exp":null}`, auth.ErrDateNotNumber},
		{"exp after the year 9999", "", `{"sub":"alice","exp":253402300800}`, auth.ErrDateOutOfRange},
		{"exp 1e300", "", `{"sub":"alice","exp":1e300}`, auth.ErrDateOutOfRange},
		{"exp 1e400", "", `{"sub":"alice","exp":1e400}`, auth.ErrDateOutOfRange},
		{"exp before 1970", "", `{"sub":"alice","exp":-1e300}`, auth.ErrDateOutOfRange},
		{"nbf 1e300", "", `{"sub":"alice","exp":EXP,"nbf":1e300}`, auth.ErrDateOutOfRange},
		{"iat -1e300", "", `{"sub":"alice","exp":EXP,"iat":-1e300}`, auth.ErrDateOutOfRange},
		{"sub spelled in upper case only", "", `{"SUB":"victim","exp":EXP}`, auth.ErrNoSubject},
		{"sub spelled with a long s only", "", `{"ſub":"victim","exp":EXP}`, auth.ErrNoSubject},
		{"sub spelled with an escaped long s only", "", `{"\u017fub":"victim","exp":EXP}`, auth.ErrNoSubject},
		{"sub only inside another claim", "", `{"user":{"sub":"victim"},"exp":EXP}`, auth.ErrNoSubject},
		{"sub twice", "", `{"sub":"alice","sub":"victim","exp":EXP}`, auth.ErrDuplicateClaim},
		{"sub twice, once escaped", "", `{"sub":"alice","s\u0075b":"victim","exp":EXP}`, auth.ErrDuplicateClaim},
		{"exp twice", "", `{"sub":"alice","exp":EXP,"exp":EXP}`, auth.ErrDuplicateClaim},
		{"a payload that is not an object", "", `["sub","alice"]`, auth.ErrNotObject},
		{"crit naming an extension", `{"alg":"HS256","crit":["urn:example"],"urn:example":true}`, `{"sub":"alice","exp":EXP}`, auth.ErrCritical},
		{"crit naming a registered parameter", `{"alg":"HS256","crit":["alg"]}`, `{"sub":"alice","exp":EXP}`, auth.ErrCritical},
		{"empty crit", `{"alg":"HS256","crit":[]}`, `{"sub":"alice","exp":EXP}`, auth.ErrCritical},
		{"crit not a list", `{"alg":"HS256","crit":"b64"}`, `{"sub":"alice","exp":EXP}`, auth.ErrCritical},
		{"crit null", `{"alg":"HS256","crit":null}`, `{"sub":"alice","exp":EXP}`, auth.ErrCritical},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			header := tc.header
			if header == "" {
				header = hs256Header
			}
			tok := signRaw(t, header, strings.ReplaceAll(tc.payload, "EXP", exp))
			code, sub, _, ext := serve(t, v, "Bearer "+tok)
			if code != http.StatusUnauthorized || sub != "" {
				t.Fatalf("status %d, subject %q; want 401 and the handler not run", code, sub)
			}
			if ext["reason"] != gqlerr.ReasonInvalid {
				t.Errorf("reason %v, want %s", ext["reason"], gqlerr.ReasonInvalid)
			}
			if _, err := v.Verify(tok); !errors.Is(err, tc.cause) {
				t.Errorf("Verify: %v, want %v", err, tc.cause)
			}
		})
	}

	accepted := []struct{ name, payload, sub string }{
		{"a surrogate pair", `{"sub":"smile\ud83d\ude00","exp":EXP}`, "smile\U0001F600"},
		{"an upper-case surrogate pair", `{"sub":"smile\uD83D\uDE00","exp":EXP}`, "smile\U0001F600"},
		{"a literal U+FFFD", "{\"sub\":\"a\uFFFD\",\"exp\":EXP}", "a\uFFFD"},
		{"an escaped U+FFFD", `{"sub":"a\ufffd","exp":EXP}`, "a\uFFFD"},
		{"an escaped backslash before u", `{"sub":"victim\\ud800","exp":EXP}`, `victim\ud800`},
		{"an escaped quote before a surrogate pair", `{"sub":"\"\ud83d\ude00","exp":EXP}`, "\"\U0001F600"},
		{"a sub of MaxSubjectBytes", `{"sub":"` + long[1:] + `","exp":EXP}`, long[1:]},
		{"a multi-byte sub of MaxSubjectBytes", `{"sub":"a` + strings.Repeat("é", 127) + `","exp":EXP}`, "a" + strings.Repeat("é", 127)},
		{"non-ASCII in other claims", `{"sub":"alice","name":"Zoë 😀","exp":EXP}`, "alice"},
		{"a fractional exp", `{"sub":"alice","exp":EXP.5}`, "alice"},
		{"other claims spelled like sub and exp", `{"Sub":"victim","Exp":"x","sub":"alice","exp":EXP}`, "alice"},
		{"sub in a nested object too", `{"user":{"sub":"victim","exp":"x"},"sub":"alice","exp":EXP}`, "alice"},
		{"member-like text inside a string", `{"note":"\",\"sub\":\"victim","sub":"alice","exp":EXP}`, "alice"},
		{"an escaped claim name", `{"s\u0075b":"alice","exp":EXP}`, "alice"},
		{"whitespace around members", "{ \"sub\" :\t\"alice\" ,\n\"exp\" : EXP }", "alice"},
		{"exp in the year 9999", `{"sub":"alice","exp":253402300799}`, "alice"},
		{"nbf and iat in the past", `{"sub":"alice","exp":EXP,"nbf":0,"iat":1.5e9}`, "alice"},
	}
	for _, tc := range accepted {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			tok := signRaw(t, hs256Header, strings.ReplaceAll(tc.payload, "EXP", exp))
			if code, sub, _, _ := serve(t, v, "Bearer "+tok); code != http.StatusOK || sub != tc.sub {
				t.Errorf("status %d, subject %q; want 200 and %q", code, sub, tc.sub)
			}
		})
	}
}

// Decoding a JSON header allocates many times its size, so a token over
// MaxTokenBytes is refused before any of it is decoded.
func TestLongToken(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	padded := func(n int) string {
		return signRaw(t, hs256Header, `{"sub":"alice","exp":`+exp+`,"pad":"`+strings.Repeat("a", n)+`"}`)
	}
	n := (auth.MaxTokenBytes - len(padded(0))) * 3 / 4 // base64 writes 4 bytes for 3
	for len(padded(n+1)) <= auth.MaxTokenBytes {
		n++
	}
	for len(padded(n)) > auth.MaxTokenBytes {
		n--
	}
	if sub, err := v.Verify(padded(n)); err != nil || sub != "alice" {
		t.Errorf("a token of %d bytes: %q, %v", len(padded(n)), sub, err)
	}
	over := padded(n + 1)
	if _, err := v.Verify(over); !errors.Is(err, auth.ErrLongToken) {
		t.Errorf("a token of %d bytes: %v, want ErrLongToken", len(over), err)
	}
	if code, _, _, ext := serve(t, v, "Bearer "+over); code != http.StatusUnauthorized || ext["reason"] != gqlerr.ReasonInvalid {
		t.Errorf("a token of %d bytes: status %d, extensions %v", len(over), code, ext)
	}

	nested := `{"alg":"HS256","x":` + strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9000) + "}"
	hostile := signRaw(t, nested, `{"sub":"alice"}`) // no exp: never remembered
	if allocs := testing.AllocsPerRun(10, func() { _, _ = v.Verify(hostile) }); allocs != 0 {
		t.Errorf("a %d-byte token of nested JSON: %.0f allocations to refuse it", len(hostile), allocs)
	}
}
