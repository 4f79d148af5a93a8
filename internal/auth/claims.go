package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MaxSubjectBytes is the longest sub accepted, in bytes: OpenID Connect Core
// §2 caps it at 255 ASCII characters, and it is stored and indexed as
// user_id, where a longer key only costs us.
const MaxSubjectBytes = 255

// maxNumericDate is 9999-12-31T23:59:59Z in seconds: an exp, nbf or iat
// past it is no real date, and time.Unix would wrap it around.
const maxNumericDate = 253402300799

var (
	errLongToken      = fmt.Errorf("token is longer than %d bytes", MaxTokenBytes)
	errNoSubject      = errors.New("token has no subject")
	errLongSubject    = fmt.Errorf("token subject is longer than %d bytes", MaxSubjectBytes)
	errNULSubject     = errors.New("token subject contains NUL")
	errNotObject      = errors.New("token payload is not a JSON object")
	errInvalidUTF8    = errors.New("token payload is not valid UTF-8")
	errLoneSurrogate  = errors.New("token payload has an unpaired UTF-16 surrogate escape")
	errDuplicateClaim = errors.New("token payload names a registered claim twice")
	errDateNotNumber  = errors.New("token date is not a JSON number")
	errDateOutOfRange = errors.New("token date is not between 1970 and 9999")
	errCritical       = errors.New("token header has crit, and no extension is understood")
)

// claims are the registered claims, decoded only from a payload that
// encoding/json would not quietly change: it turns invalid UTF-8 and
// unpaired surrogate escapes into U+FFFD (so two subjects could become one
// user), reads a quoted number as a date, and matches struct fields without
// regard to case, where RFC 7519 names are case-sensitive ("SUB" and "ſub"
// are other claims, which an issuer may fill from user data).
type claims struct {
	jwt.RegisteredClaims
}

// UnmarshalJSON is called by golang-jwt with the raw payload, before the
// signature is checked, and after encoding/json has found it well-formed.
func (c *claims) UnmarshalJSON(b []byte) error {
	var r registered
	if err := r.scan(b); err != nil {
		return err
	}
	c.RegisteredClaims = jwt.RegisteredClaims{}
	for _, f := range [...]struct {
		raw  []byte
		into any
	}{{r.iss, &c.Issuer}, {r.sub, &c.Subject}, {r.aud, &c.Audience}, {r.jti, &c.ID}} {
		if f.raw != nil {
			if err := json.Unmarshal(f.raw, f.into); err != nil {
				return err
			}
		}
	}
	var err error
	if c.ExpiresAt, err = numericDate("exp", r.exp); err != nil {
		return err
	}
	if c.NotBefore, err = numericDate("nbf", r.nbf); err != nil {
		return err
	}
	c.IssuedAt, err = numericDate("iat", r.iat)
	return err
}

// registered holds the JSON text of each registered claim's value, nil when
// the payload does not name it.
type registered struct{ iss, sub, aud, exp, nbf, iat, jti []byte }

// scan reads a payload in one pass, refusing text that encoding/json would
// decode to other characters than it spells (invalid UTF-8; a \u escape of
// a surrogate that is not a high one directly followed by a low one), and
// noting where each top-level member with a registered name has its value.
// Escapes are read inside strings only, so `\\ud800` is a backslash and
// text. It relies on json having checked the syntax; on other text it
// finds nothing useful but stays within b.
func (r *registered) scan(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	var (
		depth     int
		inString  bool
		wantKey   bool // the next string at depth 1 is a member name
		keyStart  = -1 // where the member name being read starts
		key       []byte
		valueFrom = -1
	)
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c >= utf8.RuneSelf:
			cr, n := utf8.DecodeRune(b[i:])
			if cr == utf8.RuneError && n == 1 {
				return errInvalidUTF8
			}
			i += n
		case inString && c == '\\':
			u := escaped(b[i:])
			switch {
			case u < 0: // \\, \", \n and the like
				i += 2
			case u >= 0xD800 && u < 0xDC00:
				if utf16.DecodeRune(u, escaped(b[i+6:])) == utf8.RuneError {
					return errLoneSurrogate
				}
				i += 12
			case u >= 0xDC00 && u <= 0xDFFF:
				return errLoneSurrogate
			default:
				i += 6
			}
		case c == '"':
			if inString && keyStart >= 0 {
				key, keyStart = b[keyStart:i+1], -1
			} else if !inString && depth == 1 && wantKey {
				keyStart, wantKey = i, false
			}
			inString = !inString
			i++
		case inString:
			i++
		case c == '{' || c == '[':
			depth++
			wantKey = depth == 1
			i++
		case c == ':' && depth == 1:
			valueFrom = i + 1
			i++
		case (c == ',' || c == '}') && depth == 1:
			if valueFrom >= 0 {
				if err := r.set(key, b[valueFrom:i]); err != nil {
					return err
				}
				valueFrom = -1
			}
			wantKey = c == ','
			if c == '}' {
				depth--
			}
			i++
		case c == '}' || c == ']':
			depth--
			i++
		default:
			i++
		}
	}
	return nil
}

// set notes value as the claim's if quoted is a registered name.
func (r *registered) set(quoted, value []byte) error {
	if len(quoted) < 2 {
		return nil
	}
	name := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(name, '\\') >= 0 { // "s\u0075b" is sub too
		var s string
		if err := json.Unmarshal(quoted, &s); err != nil {
			return err
		}
		name = []byte(s)
	}
	var slot *[]byte
	switch string(name) {
	case "iss":
		slot = &r.iss
	case "sub":
		slot = &r.sub
	case "aud":
		slot = &r.aud
	case "exp":
		slot = &r.exp
	case "nbf":
		slot = &r.nbf
	case "iat":
		slot = &r.iat
	case "jti":
		slot = &r.jti
	default:
		return nil
	}
	// RFC 7519 §4 allows taking the last of two, but readers disagree on
	// which one counts.
	if *slot != nil {
		return errDuplicateClaim
	}
	*slot = bytes.TrimSpace(value)
	return nil
}

// numericDate reads a date claim; absent stays nil (exp is then refused by
// the parser as missing).
func numericDate(name string, b []byte) (*jwt.NumericDate, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) == 0 || b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return nil, fmt.Errorf("%s: %w", name, errDateNotNumber)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || !(f >= 0 && f <= maxNumericDate) { // ParseFloat errs on 1e400
		return nil, fmt.Errorf("%s: %w", name, errDateOutOfRange)
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// checkSubject refuses a sub the database cannot store as given.
func checkSubject(sub string) error {
	switch {
	case strings.TrimSpace(sub) == "":
		return errNoSubject
	case len(sub) > MaxSubjectBytes:
		return errLongSubject
	case strings.IndexByte(sub, 0) >= 0:
		return errNULSubject
	}
	return nil
}

// escaped returns the code unit of a \uXXXX escape at the start of b, or -1
// when b starts with anything else.
func escaped(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	r := rune(0)
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
