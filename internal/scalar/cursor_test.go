package scalar_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/scalar"
)

const msgCursor = "not a valid cursor: use a cursor from a previous page"

var cursorID = uuid.MustParse("0b8f3a4e-6d1c-4f5a-9e2b-7c3d1a0f9e84")

// marshal writes c as the API does and returns the text inside the quotes.
func marshal(t testing.TB, c scalar.Cursor) string {
	t.Helper()
	var b bytes.Buffer
	scalar.MarshalCursor(c).MarshalGQL(&b)
	s, err := strconv.Unquote(b.String())
	if err != nil {
		t.Fatalf("cursor %s is not a JSON string: %v", b.String(), err)
	}
	return s
}

func cursorAt(field string, dir entgql.OrderDirection, value any) scalar.Cursor {
	return scalar.Cursor{ID: cursorID, Value: &scalar.Position{Field: field, Direction: dir, Value: value}}
}

// rawCursor builds a cursor's bytes by hand: the header, then body.
func rawCursor(version, field, dir byte, body ...byte) []byte {
	return append(append([]byte{version, field, dir}, cursorID[:]...), body...)
}

func timeBody(sec int64, nsec uint32) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(sec))
	return binary.BigEndian.AppendUint32(b, nsec)
}

func titleBody(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// forgedMsgpack is the cursor that made the msgpack decoder allocate about
// 80 MB per level: a map holding "v", then levels maps that each declare a
// million entries and hold one, under an empty key.
func forgedMsgpack(levels int) string {
	b := []byte{0x81, 0xa1, 'v'}
	for range levels {
		b = append(b, 0xdf, 0x00, 0x0f, 0x42, 0x40, 0xa0)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 18, 0, 0, 123456000, time.UTC)
	for _, c := range []scalar.Cursor{
		cursorAt("CREATED_AT", entgql.OrderDirectionDesc, at),
		cursorAt("CREATED_AT", entgql.OrderDirectionAsc, at),
		cursorAt("UPDATED_AT", entgql.OrderDirectionDesc, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)),
		cursorAt("UPDATED_AT", entgql.OrderDirectionAsc, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
		cursorAt("TITLE", entgql.OrderDirectionAsc, "Buy milk"),
		cursorAt("TITLE", entgql.OrderDirectionDesc, "Café ☕ 😀 日本"),
		cursorAt("TITLE", entgql.OrderDirectionDesc, ""),
		cursorAt("TITLE", entgql.OrderDirectionAsc, strings.Repeat("😀", 200)),
	} {
		s := marshal(t, c)
		got, err := scalar.UnmarshalCursor(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		want, p := c.Value.(*scalar.Position), got.Value.(*scalar.Position)
		if got.ID != c.ID || p.Field != want.Field || p.Direction != want.Direction || !sameValue(p.Value, want.Value) {
			t.Errorf("%s read back as %v %+v, want %v %+v", s, got.ID, p, c.ID, want)
		}
		if tm, ok := p.Value.(time.Time); ok && tm.Location() != time.UTC {
			t.Errorf("%s: time %v is not in UTC", s, tm)
		}
		if again := marshal(t, got); again != s {
			t.Errorf("%s written again as %s", s, again)
		}
	}
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}

// TestMaxCursorLen pins the figures MaxCursorLen's comment gives.
func TestMaxCursorLen(t *testing.T) {
	longest := marshal(t, cursorAt("TITLE", entgql.OrderDirectionDesc, strings.Repeat("😀", 200)))
	if len(longest) != 1095 || len(longest) >= scalar.MaxCursorLen {
		t.Errorf("the longest cursor written has %d characters, want 1095, under MaxCursorLen %d", len(longest), scalar.MaxCursorLen)
	}
	if s := marshal(t, cursorAt("CREATED_AT", entgql.OrderDirectionDesc, time.Now())); len(s) != 42 {
		t.Errorf("a time cursor has %d characters, want 42", len(s))
	}
}

// A cursor the server could not read back is written as "", never null.
func TestMarshalCursorWithoutPosition(t *testing.T) {
	for name, c := range map[string]scalar.Cursor{
		"no value":          {ID: cursorID},
		"a raw time":        {ID: cursorID, Value: time.Now()},
		"an unknown field":  cursorAt("ID", entgql.OrderDirectionAsc, "x"),
		"no direction":      cursorAt("TITLE", "", "x"),
		"a title as a time": cursorAt("CREATED_AT", entgql.OrderDirectionAsc, "x"),
		"year 10000":        cursorAt("CREATED_AT", entgql.OrderDirectionAsc, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)),
		"201 characters":    cursorAt("TITLE", entgql.OrderDirectionAsc, strings.Repeat("a", 201)),
		"a NUL":             cursorAt("TITLE", entgql.OrderDirectionAsc, "a\x00"),
	} {
		if s := marshal(t, c); s != "" {
			t.Errorf("%s: written as %q, want \"\"", name, s)
		}
	}
}

// badCursors are texts no page of this server wrote.
func badCursors() map[string]string {
	var old bytes.Buffer
	entgql.Cursor[uuid.UUID]{ID: cursorID, Value: time.Now()}.MarshalGQL(&old)
	good := rawCursor(1, 1, 1, timeBody(1_800_000_000, 0)...)
	title := rawCursor(1, 3, 0, titleBody("Café")...)
	return map[string]string{
		"empty":                           "",
		"forged msgpack, 3 levels":        forgedMsgpack(3),
		"forged msgpack under 2 KB":       forgedMsgpack(250),
		"map32 headers alone":             base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xdf, 0x00, 0x0f, 0x42, 0x40}, 300)),
		"an old msgpack cursor":           strings.Trim(old.String(), `"`),
		"over MaxCursorLen":               strings.Repeat("A", scalar.MaxCursorLen+1),
		"64 KB":                           strings.Repeat("A", 64<<10),
		"not base64url":                   "not+a/cursor",
		"padded":                          b64(good) + "=",
		"a line break inside":             b64(good)[:20] + "\n" + b64(good)[20:],
		"stray bits in the last char":     b64(good)[:len(b64(good))-1] + "B",
		"version 0":                       b64(rawCursor(0, 1, 1, timeBody(1_800_000_000, 0)...)),
		"version 2":                       b64(rawCursor(2, 1, 1, timeBody(1_800_000_000, 0)...)),
		"field 0":                         b64(rawCursor(1, 0, 1, timeBody(1_800_000_000, 0)...)),
		"field 4":                         b64(rawCursor(1, 4, 1, timeBody(1_800_000_000, 0)...)),
		"direction 2":                     b64(rawCursor(1, 1, 2, timeBody(1_800_000_000, 0)...)),
		"header only":                     b64(rawCursor(1, 1, 1)),
		"truncated id":                    b64(good[:10]),
		"truncated time":                  b64(good[:len(good)-1]),
		"a byte after the time":           b64(append(good, 0)),
		"a title in a time order":         b64(rawCursor(1, 1, 0, titleBody("Café")...)),
		"a time in the title order":       b64(rawCursor(1, 3, 0, timeBody(1_800_000_000, 0)...)),
		"nanoseconds over a second":       b64(rawCursor(1, 2, 0, timeBody(1_800_000_000, 1e9)...)),
		"year 0":                          b64(rawCursor(1, 1, 0, timeBody(time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC).Unix(), 0)...)),
		"year 10000":                      b64(rawCursor(1, 1, 0, timeBody(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), 0)...)),
		"the largest seconds":             b64(rawCursor(1, 1, 0, timeBody(1<<63-1, 0)...)),
		"the smallest seconds":            b64(rawCursor(1, 1, 0, timeBody(-1<<63, 0)...)),
		"title length over the bytes":     b64(append(rawCursor(1, 3, 0, 0xff, 0xff), "Café"...)),
		"title length under the bytes":    b64(append(rawCursor(1, 3, 0, 0, 2), "Café"...)),
		"truncated title":                 b64(title[:len(title)-1]),
		"title without its length":        b64(rawCursor(1, 3, 0, 0)),
		"a 201-character title":           b64(rawCursor(1, 3, 0, titleBody(strings.Repeat("a", 201))...)),
		"a title of 801 bytes":            b64(rawCursor(1, 3, 0, titleBody(strings.Repeat("é", 400)+"a")...)),
		"invalid UTF-8 in the title":      b64(rawCursor(1, 3, 0, titleBody("a\xff")...)),
		"NUL in the title":                b64(rawCursor(1, 3, 0, titleBody("a\x00b")...)),
		"a base64url cursor with padding": base64.URLEncoding.EncodeToString(title),
	}
}

func TestUnmarshalCursorRefuses(t *testing.T) {
	for name, s := range badCursors() {
		t.Run(name, func(t *testing.T) {
			c, err := scalar.UnmarshalCursor(s)
			assertCursorError(t, err)
			if c != (scalar.Cursor{}) {
				t.Errorf("refused cursor came with a value: %+v", c)
			}
		})
	}
	for _, v := range []any{nil, 5, []any{"x"}, map[string]any{"i": "x"}} {
		_, err := scalar.UnmarshalCursor(v)
		assertCursorError(t, err)
	}
}

func assertCursorError(t testing.TB, err error) {
	t.Helper()
	var ge *gqlerror.Error
	if !errors.As(err, &ge) || ge.Message != msgCursor || ge.Extensions["code"] != gqlerr.BadUserInput {
		t.Fatalf("error %v, want BAD_USER_INPUT %q", err, msgCursor)
	}
}

// allocated is the bytes f allocates, the most of runs runs after a first
// one. GOMAXPROCS is 1 meanwhile, as in testing.AllocsPerRun, so other
// goroutines add little.
func allocated(runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var most uint64
	var m0, m1 runtime.MemStats
	for range runs {
		runtime.ReadMemStats(&m0)
		f()
		runtime.ReadMemStats(&m1)
		most = max(most, m1.TotalAlloc-m0.TotalAlloc)
	}
	return most
}

// maxDecodeBytes bounds what decoding any cursor text allocates: the
// result (a title at most) or the error.
const maxDecodeBytes = 4 << 10

// TestUnmarshalCursorMemory: the msgpack decoder allocated what the forged
// cursor's headers declared, 80 MB per level.
func TestUnmarshalCursorMemory(t *testing.T) {
	inputs := badCursors()
	inputs["the longest title cursor"] = marshal(t, cursorAt("TITLE", entgql.OrderDirectionAsc, strings.Repeat("😀", 200)))
	for name, s := range inputs {
		if n := allocated(3, func() { _, _ = scalar.UnmarshalCursor(s) }); n > maxDecodeBytes {
			t.Errorf("%s (%d characters): decoding allocated %d bytes, want at most %d", name, len(s), n, maxDecodeBytes)
		}
	}
}

// FuzzUnmarshalCursor: any text is refused with the one message or read as
// a cursor that is written back as the same text; either way decoding
// allocates a bounded amount.
func FuzzUnmarshalCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		c, err := scalar.UnmarshalCursor(s)
		if err != nil {
			assertCursorError(t, err)
		} else {
			p, ok := c.Value.(*scalar.Position)
			if !ok {
				t.Fatalf("%q read as %+v, without a position", s, c)
			}
			switch v := p.Value.(type) {
			case time.Time:
				if v.Location() != time.UTC || v.Year() < 1 || v.Year() > 9999 || p.Field == "TITLE" {
					t.Fatalf("%q read as %+v", s, p)
				}
			case string:
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || utf8.RuneCountInString(v) > 200 || p.Field != "TITLE" {
					t.Fatalf("%q read as %+v", s, p)
				}
			default:
				t.Fatalf("%q read as %+v", s, p)
			}
			if again := marshal(t, c); again != s {
				t.Fatalf("%q read and written again as %q", s, again)
			}
		}
		// One measured run keeps the fuzzer fast (each stops the world).
		if len(s) <= 64<<10 {
			if n := allocated(1, func() { _, _ = scalar.UnmarshalCursor(s) }); n > maxDecodeBytes {
				t.Fatalf("%d characters: decoding allocated %d bytes, want at most %d", len(s), n, maxDecodeBytes)
			}
		}
	})
}
