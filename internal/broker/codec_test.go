package broker

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestCodec(t *testing.T) {
	id := uuid.MustParse("0b9e5d6c-1f2a-4c3b-9d8e-7f6a5b4c3d2e")
	longest := strings.Repeat("é", MaxUserIDLen/2) + "x" // 255 bytes of two-byte runes and one more
	for _, c := range []struct {
		name string
		e    Event
	}{
		{"a created event survives the trip", Event{Created, "user_1", id}},
		{"an updated event survives the trip", Event{Updated, "auth0|5f7c8ec7c33c6c004bbafe82", id}},
		{"a deleted event survives the trip", Event{Deleted, "a", id}},
		{"a user id of 255 bytes of UTF-8 survives the trip", Event{Created, longest, id}},
		{"a user id with separators and spaces survives the trip", Event{Updated, "1|2:3 4\n5", id}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := encode(c.e)
			if len(p) > maxWireBytes || len(p) > 8000 {
				t.Fatalf("payload of %d bytes", len(p))
			}
			got, err := decode(p)
			if err != nil || got != c.e {
				t.Errorf("decode(encode(%+v)) = %+v, %v", c.e, got, err)
			}
		})
	}
	if len(longest) != MaxUserIDLen {
		t.Fatalf("longest user id is %d bytes, want %d", len(longest), MaxUserIDLen)
	}

	good := encode(Event{Created, "alice", id})
	for _, c := range []struct {
		name, payload string
	}{
		{"an empty payload is refused", ""},
		{"a foreign notification is refused", `{"table":"tasks","op":"INSERT"}`},
		{"another version is refused", "2" + good[1:]},
		{"an unknown kind is refused", "1X" + good[2:]},
		{"a payload without a user id is refused", good[:wireHeader]},
		{"an upper-case task id is refused", good[:2] + strings.ToUpper(good[2:wireHeader]) + "alice"},
		{"a task id without hyphens is refused", "1C" + strings.ReplaceAll(id.String(), "-", "") + "xxxxalice"},
		{"a nil task id is refused", "1C" + uuid.Nil.String() + "alice"},
		{"a user id that is not UTF-8 is refused", good[:wireHeader] + "\xff"},
		{"a user id with NUL is refused", good[:wireHeader] + "a\x00b"},
		{"a user id over 255 bytes is refused", good[:wireHeader] + strings.Repeat("a", MaxUserIDLen+1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if e, err := decode(c.payload); err == nil {
				t.Errorf("decode(%q) = %+v, want an error", c.payload, e)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(Event{Created, "alice", uuid.New()}))
	f.Add(encode(Event{Deleted, strings.Repeat("é", 127), uuid.New()}))
	f.Add(`{"kind":"CREATED"}`)
	f.Add("1C")
	f.Fuzz(func(t *testing.T, p string) {
		e, err := decode(p)
		if err != nil {
			return
		}
		if err := e.validate(); err != nil {
			t.Fatalf("decode(%q) accepted an invalid event: %v", p, err)
		}
		// Only what encode writes is accepted, so there is one spelling per event.
		if again := encode(e); again != p {
			t.Fatalf("decode(%q) = %+v, which encodes as %q", p, e, again)
		}
	})
}
