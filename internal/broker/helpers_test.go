package broker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
)

// patience bounds every wait in the tests; it only decides how long a broken
// test takes to fail, never whether a working one passes.
const patience = 10 * time.Second

func testOptions(t *testing.T) Options {
	t.Helper()
	return Options{
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
	}
}

func event(kind Kind, userID string) Event {
	return Event{Kind: kind, UserID: userID, TaskID: uuid.New()}
}

// recv returns the next event of s, failing if none comes or s ends first.
func recv(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case e, ok := <-s.Events():
		if !ok {
			t.Fatalf("subscription ended (%v) before an event came", s.Err())
		}
		return e
	case <-time.After(patience):
		t.Fatalf("no event within %v", patience)
	}
	return Event{}
}

// ended waits for s to end and returns why.
func ended(t *testing.T, s *Subscription) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Err()
	case <-time.After(patience):
		t.Fatalf("subscription still live after %v", patience)
	}
	return nil
}

// eventually polls f until it returns nil, failing with its last error at
// the deadline.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, patience, err)
		}
		<-tick.C
	}
}

func subscribe(t *testing.T, b Broker, userID string) *Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), userID)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", userID, err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t *testing.T, b Broker, e Event) {
	t.Helper()
	if err := b.Publish(context.Background(), e); err != nil {
		t.Fatalf("Publish(%+v): %v", e, err)
	}
}
