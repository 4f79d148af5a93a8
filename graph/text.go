package graph

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
)

// Both JSON and GraphQL decoders turn invalid UTF-8 and unpaired UTF-16
// surrogate escapes into U+FFFD without a word, so "victim\ud800" and
// "victim\udbff" would arrive as one string. These scans of the client's
// own bytes refuse them first, in one linear pass each.

func errBadText(what string, at int) *gqlerror.Error {
	return gqlerr.BadInput("", fmt.Sprintf("text must be valid Unicode: %s at byte %d", what, at))
}

// text is the client's bytes, as read or as decoded from JSON.
type text interface{ ~string | ~[]byte }

// checkJSONText refuses a JSON text holding invalid UTF-8 or a string with
// an unpaired surrogate escape. It also counts, roughly, the values the
// text holds (containers and the commas between entries), so that a body
// of half a million tiny values is refused before it is decoded.
func checkJSONText(b []byte) (values int, err *gqlerror.Error) {
	if !utf8.Valid(b) {
		return 0, errBadText("invalid UTF-8", invalidAt(b))
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{' || c == ','):
			values++
		case c == '\\' && inString:
			n, ok := escape(b, i, false)
			if !ok {
				return 0, errBadText("an unpaired UTF-16 surrogate", i)
			}
			i += n - 1
		}
	}
	return values, nil
}

// checkGraphQLText refuses a GraphQL document whose string literals hold an
// unpaired surrogate escape (\uD800 or \u{D800}). Comments and block
// strings, which have no such escapes, are skipped. Invalid UTF-8 never
// gets this far: the body was checked as JSON first.
func checkGraphQLText(q string) *gqlerror.Error {
	for i := 0; i < len(q); i++ {
		switch {
		case q[i] == '#':
			for i < len(q) && q[i] != '\n' && q[i] != '\r' {
				i++
			}
		case strings.HasPrefix(q[i:], `"""`):
			for i += 3; i < len(q) && !strings.HasPrefix(q[i:], `"""`); i++ {
				if strings.HasPrefix(q[i:], `\"""`) {
					i += 3
				}
			}
			i += 2 // on the closing quotes' last
		case q[i] == '"':
			for i++; i < len(q) && q[i] != '"' && q[i] != '\n' && q[i] != '\r'; i++ {
				if q[i] != '\\' {
					continue
				}
				n, ok := escape(q, i, true)
				if !ok {
					return errBadText("an unpaired UTF-16 surrogate", i)
				}
				i += n - 1
			}
		}
	}
	return nil
}

// escape reads the escape at b[i] (a backslash), with the escape after it
// when it opens a surrogate pair, and reports its length and whether it is
// anything but an unpaired surrogate. braced allows GraphQL's \u{…}. A
// malformed escape is left to the decoder, which refuses it.
func escape[T text](b T, i int, braced bool) (int, bool) {
	if i+1 >= len(b) || b[i+1] != 'u' {
		return 2, true
	}
	if braced && i+2 < len(b) && b[i+2] == '{' {
		v, n := 0, i+3
		for ; n < len(b) && n < i+12 && b[n] != '}'; n++ {
			d, ok := hexValue(b[n])
			if !ok {
				return 2, true
			}
			v = v<<4 | d
		}
		return n - i, v < 0xD800 || v > 0xDFFF
	}
	r, ok := hex4(b, i+2)
	if !ok {
		return 2, true
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 6, false
	case r >= 0xD800 && r < 0xDC00:
		if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			if r2, ok := hex4(b, i+8); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
				return 12, true
			}
		}
		return 6, false
	}
	return 6, true
}

func hex4[T text](b T, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v := 0
	for j := at; j < at+4; j++ {
		d, ok := hexValue(b[j])
		if !ok {
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

func hexValue(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// invalidAt is the offset of the first byte of b that is not UTF-8.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}
