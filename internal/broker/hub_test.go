package broker

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestHub(t *testing.T) {
	t.Run("events reach only their own user's subscriptions, in order", func(t *testing.T) {
		h := newHub(64)
		alice1 := mustSubscribe(t, h, "alice")
		alice2 := mustSubscribe(t, h, "alice")
		bob := mustSubscribe(t, h, "bob")
		var forAlice, forBob []Event
		for i := range 20 {
			e := event(Kind(i%3+1), "alice")
			if i%2 == 1 {
				e.UserID = "bob"
				forBob = append(forBob, e)
			} else {
				forAlice = append(forAlice, e)
			}
			h.publish(e)
		}
		for _, c := range []struct {
			name string
			s    *Subscription
			want []Event
		}{{"alice1", alice1, forAlice}, {"alice2", alice2, forAlice}, {"bob", bob, forBob}} {
			for i, want := range c.want {
				if got := recv(t, c.s); got != want {
					t.Fatalf("%s: event %d = %+v, want %+v", c.name, i, got, want)
				}
			}
			if n := len(c.s.Events()); n != 0 {
				t.Errorf("%s: %d events left over, want 0", c.name, n)
			}
		}
	})

	t.Run("close unsubscribes with a nil error and closes the events", func(t *testing.T) {
		h := newHub(64)
		s := mustSubscribe(t, h, "alice")
		s.Close()
		s.Close()
		if err := ended(t, s); err != nil {
			t.Errorf("Err() = %v, want nil", err)
		}
		if n := h.count(); n != 0 {
			t.Errorf("%d subscriptions left in the hub, want 0", n)
		}
		h.publish(event(Created, "alice"))
		if _, ok := <-s.Events(); ok {
			t.Error("an event arrived after Close")
		}
	})

	t.Run("a subscriber that never reads is cut off while others keep receiving", func(t *testing.T) {
		const size = 4
		h := newHub(size)
		stuck := mustSubscribe(t, h, "alice")
		reader := mustSubscribe(t, h, "alice")
		var sent []Event
		for range size + 1 {
			e := event(Updated, "alice")
			sent = append(sent, e)
			h.publish(e)
			if got := recv(t, reader); got != e {
				t.Fatalf("reader got %+v, want %+v", got, e)
			}
		}
		if err := ended(t, stuck); !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("stuck subscriber ended with %v, want ErrSlowConsumer", err)
		}
		var kept []Event
		for e := range stuck.Events() {
			kept = append(kept, e)
		}
		if len(kept) != size || kept[0] != sent[0] || kept[size-1] != sent[size-1] {
			t.Errorf("stuck subscriber kept %d events, want the first %d", len(kept), size)
		}
		e := event(Deleted, "alice")
		h.publish(e)
		if got := recv(t, reader); got != e {
			t.Errorf("reader got %+v after the cut, want %+v", got, e)
		}
		if n := h.count(); n != 1 {
			t.Errorf("%d subscriptions in the hub, want 1", n)
		}
	})

	t.Run("a subscription ends with its context's error", func(t *testing.T) {
		h := newHub(64)
		ctx, cancel := context.WithCancel(context.Background())
		s, err := h.subscribe(ctx, "alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := ended(t, s); !errors.Is(err, context.Canceled) {
			t.Errorf("Err() = %v, want context.Canceled", err)
		}
		if _, err := h.subscribe(ctx, "alice", nil); !errors.Is(err, context.Canceled) {
			t.Errorf("subscribe with a done context: %v, want context.Canceled", err)
		}
	})

	t.Run("going down ends every subscription and refuses new ones until up", func(t *testing.T) {
		h := newHub(64)
		ends := 0
		s, err := h.subscribe(context.Background(), "alice", func() { ends++ })
		if err != nil {
			t.Fatal(err)
		}
		h.setDown(ErrBrokerDown)
		if err := ended(t, s); !errors.Is(err, ErrBrokerDown) {
			t.Errorf("Err() = %v, want ErrBrokerDown", err)
		}
		if _, err := h.subscribe(context.Background(), "alice", nil); !errors.Is(err, ErrBrokerDown) {
			t.Errorf("subscribe while down: %v, want ErrBrokerDown", err)
		}
		h.setUp()
		mustSubscribe(t, h, "alice")
		s.Close()
		if ends != 1 {
			t.Errorf("onEnd ran %d times, want 1", ends)
		}
	})

	t.Run("a thousand idle subscriptions are cheap", func(t *testing.T) {
		const n = 1000
		h := newHub(64)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		subs := make([]*Subscription, n)
		for i := range subs {
			subs[i] = mustSubscribe(t, h, string(rune('a'+i%26))+"-user")
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		t.Logf("%d idle subscriptions (buffer 64): %d bytes each", n, per)
		// A generous bound on a count, not a speed: the buffer alone is
		// 64 × 40 bytes, and nothing per subscription should be much more.
		if per > 8<<10 {
			t.Errorf("%d bytes per idle subscription, want at most 8 KiB", per)
		}
		if got := h.count(); got != n {
			t.Errorf("%d subscriptions in the hub, want %d", got, n)
		}
		runtime.KeepAlive(subs)
	})
}

func mustSubscribe(t *testing.T, h *hub, userID string) *Subscription {
	t.Helper()
	s, err := h.subscribe(context.Background(), userID, nil)
	if err != nil {
		t.Fatalf("subscribe(%q): %v", userID, err)
	}
	t.Cleanup(s.Close)
	return s
}
