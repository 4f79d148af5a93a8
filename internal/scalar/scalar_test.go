package scalar_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskapi/server/internal/scalar"
)

// TestCursorTimeIsUTC: SQLite compares times as text, so a cursor's time
// must come back in UTC whatever the server's zone; decoded in the local
// zone it once made pages skip rows on servers outside UTC.
func TestCursorTimeIsUTC(t *testing.T) {
	saved := time.Local
	time.Local = time.FixedZone("UTC-5", -5*60*60) // no other goroutine runs here
	t.Cleanup(func() { time.Local = saved })

	at := time.Date(2026, 11, 25, 18, 0, 0, 123000, time.UTC)
	var b bytes.Buffer
	scalar.MarshalCursor(scalar.Cursor{ID: uuid.New(), Value: &scalar.Position{Field: "CREATED_AT", Direction: "DESC", Value: at}}).MarshalGQL(&b)
	s, err := strconv.Unquote(b.String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := scalar.UnmarshalCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Value.(*scalar.Position)
	if !ok {
		t.Fatalf("cursor value %#v is not a position", c.Value)
	}
	got, ok := p.Value.(time.Time)
	if !ok || !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("cursor time = %v (%T), want %v in UTC", p.Value, p.Value, at)
	}
}

func TestTimeInputIsUTC(t *testing.T) {
	got, err := scalar.UnmarshalTime("2026-11-25T13:00:00-05:00")
	if err != nil {
		t.Fatal(err)
	}
	if got.Location() != time.UTC || !got.Equal(time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("got %v", got)
	}
}

// plainWriter has no buffer of its own to lend.
type plainWriter struct{ bytes.Buffer }

func (w *plainWriter) Write(p []byte) (int, error) { return w.Buffer.Write(p) }

// The ID and Time marshalers write their JSON by hand, into the writer's
// buffer when it lends one; they must equal the obvious implementation.
func TestMarshalIDAndTime(t *testing.T) {
	for i := range 100 {
		id := uuid.New()
		var b bytes.Buffer
		b.WriteString(`{"a":`)
		scalar.MarshalID(id).MarshalGQL(&b)
		var p plainWriter
		scalar.MarshalID(id).MarshalGQL(&p)
		if want := strconv.Quote(id.String()); b.String() != `{"a":`+want || p.String() != want {
			t.Fatalf("MarshalID(%s) = %s and %s, want %s", id, b.String(), p.String(), want)
		}
		if i == 0 {
			if n := testing.AllocsPerRun(10, func() { b.Reset(); scalar.MarshalID(id).MarshalGQL(&b) }); n > 1 {
				t.Errorf("MarshalID into a bytes.Buffer: %.0f allocations, want at most 1 (the value)", n)
			}
		}
	}
	for _, at := range []time.Time{
		time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 18, 0, 0, 123456789, time.FixedZone("UTC+5", 5*60*60)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		var b bytes.Buffer
		scalar.MarshalTime(at).MarshalGQL(&b)
		var p plainWriter
		scalar.MarshalTime(at).MarshalGQL(&p)
		if want := strconv.Quote(at.UTC().Format(time.RFC3339Nano)); b.String() != want || p.String() != want {
			t.Errorf("MarshalTime(%v) = %s and %s, want %s", at, b.String(), p.String(), want)
		}
	}
}
