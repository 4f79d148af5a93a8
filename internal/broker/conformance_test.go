package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// backend is what the conformance suite needs from an implementation.
type backend struct {
	// instances returns two brokers on the same backend, as two server
	// processes would have; a single-process broker returns itself twice.
	// They are closed when the test ends.
	instances func(t *testing.T) (a, b Broker)
	// outage drops the listening connections of every instance and refuses
	// new ones until restore is called; nil if there are none to drop.
	outage func(t *testing.T) (restore func())
	// foreign writes payloads the broker did not write where a subscriber
	// of userID would hear them; nil if nobody else can write there.
	foreign func(t *testing.T, userID string)
}

// testConformance runs what every Broker must do against be.
func testConformance(t *testing.T, be backend) {
	t.Run("an event published on one instance reaches subscribers on every instance", func(t *testing.T) {
		a, b := be.instances(t)
		onA := subscribe(t, a, "alice")
		onB := subscribe(t, b, "alice")
		e := event(Created, "alice")
		publish(t, a, e)
		for name, s := range map[string]*Subscription{"publishing instance": onA, "other instance": onB} {
			if got := recv(t, s); got != e {
				t.Errorf("%s got %+v, want %+v", name, got, e)
			}
		}
	})

	t.Run("events reach only their own user's subscribers, in order", func(t *testing.T) {
		a, b := be.instances(t)
		alice := subscribe(t, b, "alice")
		bob := subscribe(t, b, "bob")
		var forAlice, forBob []Event
		for i := range 10 {
			e := event(Kind(i%3+1), "alice")
			if i%2 == 1 {
				e.UserID = "bob"
				forBob = append(forBob, e)
			} else {
				forAlice = append(forAlice, e)
			}
			publish(t, a, e)
		}
		for i, want := range forAlice {
			if got := recv(t, alice); got != want {
				t.Fatalf("alice's event %d = %+v, want %+v", i, got, want)
			}
		}
		for i, want := range forBob {
			if got := recv(t, bob); got != want {
				t.Fatalf("bob's event %d = %+v, want %+v", i, got, want)
			}
		}
	})

	t.Run("a user id of 255 bytes of any UTF-8 travels intact", func(t *testing.T) {
		a, b := be.instances(t)
		userID := strings.Repeat("ü", 127) + "|"
		s := subscribe(t, b, userID)
		e := event(Deleted, userID)
		publish(t, a, e)
		if got := recv(t, s); got != e {
			t.Errorf("got %+v, want %+v", got, e)
		}
	})

	t.Run("invalid events and user ids are refused", func(t *testing.T) {
		a, _ := be.instances(t)
		for _, c := range []struct {
			name string
			e    Event
		}{
			{"an event without a kind is refused", Event{UserID: "alice", TaskID: uuid.New()}},
			{"an event without a user is refused", Event{Kind: Created, TaskID: uuid.New()}},
			{"an event without a task is refused", Event{Kind: Created, UserID: "alice"}},
			{"a user id with NUL is refused", Event{Kind: Created, UserID: "a\x00", TaskID: uuid.New()}},
			{"a user id over 255 bytes is refused", Event{Kind: Created, UserID: strings.Repeat("a", 256), TaskID: uuid.New()}},
		} {
			t.Run(c.name, func(t *testing.T) {
				if err := a.Publish(context.Background(), c.e); !errors.Is(err, ErrInvalid) {
					t.Errorf("Publish: %v, want ErrInvalid", err)
				}
				if c.e.UserID == "alice" {
					return
				}
				if _, err := a.Subscribe(context.Background(), c.e.UserID); !errors.Is(err, ErrInvalid) {
					t.Errorf("Subscribe: %v, want ErrInvalid", err)
				}
			})
		}
	})

	t.Run("a closed subscription ends with a nil error and others carry on", func(t *testing.T) {
		a, b := be.instances(t)
		closed := subscribe(t, b, "alice")
		open := subscribe(t, b, "alice")
		closed.Close()
		if err := ended(t, closed); err != nil {
			t.Errorf("Err() = %v, want nil", err)
		}
		e := event(Updated, "alice")
		publish(t, a, e)
		if got := recv(t, open); got != e {
			t.Errorf("got %+v, want %+v", got, e)
		}
	})

	t.Run("a subscriber that falls behind is cut off while others keep receiving", func(t *testing.T) {
		a, b := be.instances(t)
		stuck := subscribe(t, b, "alice")
		reader := subscribe(t, b, "alice")
		const n = 64 + 6 // the default buffer, overflowed
		for range n {
			e := event(Updated, "alice")
			publish(t, a, e)
			if got := recv(t, reader); got != e {
				t.Fatalf("reader got %+v, want %+v", got, e)
			}
		}
		if err := ended(t, stuck); !errors.Is(err, ErrSlowConsumer) {
			t.Errorf("stuck subscriber ended with %v, want ErrSlowConsumer", err)
		}
		again := subscribe(t, b, "alice")
		e := event(Deleted, "alice")
		publish(t, a, e)
		for name, s := range map[string]*Subscription{"reader": reader, "new subscriber": again} {
			if got := recv(t, s); got != e {
				t.Errorf("%s got %+v, want %+v", name, got, e)
			}
		}
	})

	t.Run("the last subscription of a user can leave and come back", func(t *testing.T) {
		a, b := be.instances(t)
		subscribe(t, b, "alice").Close()
		s := subscribe(t, b, "alice")
		e := event(Created, "alice")
		publish(t, a, e)
		if got := recv(t, s); got != e {
			t.Errorf("got %+v, want %+v", got, e)
		}
	})

	t.Run("a subscription ends with its context's error", func(t *testing.T) {
		_, b := be.instances(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		s, err := b.Subscribe(ctx, "alice")
		if err != nil {
			// The deadline may pass while a backend confirms the subscription.
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Subscribe: %v", err)
			}
			return
		}
		if err := ended(t, s); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("a closed broker ends its subscriptions with ErrClosed and refuses work", func(t *testing.T) {
		_, b := be.instances(t)
		s := subscribe(t, b, "alice")
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := ended(t, s); !errors.Is(err, ErrClosed) {
			t.Errorf("Err() = %v, want ErrClosed", err)
		}
		if _, err := b.Subscribe(context.Background(), "alice"); !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe: %v, want ErrClosed", err)
		}
		if err := b.Publish(context.Background(), event(Created, "alice")); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish: %v, want ErrClosed", err)
		}
		if err := b.Ready(); !errors.Is(err, ErrClosed) {
			t.Errorf("Ready: %v, want ErrClosed", err)
		}
	})

	if be.foreign != nil {
		t.Run("foreign and malformed payloads are dropped", func(t *testing.T) {
			a, b := be.instances(t)
			s := subscribe(t, b, "alice")
			be.foreign(t, "alice")
			e := event(Created, "alice")
			publish(t, a, e)
			if got := recv(t, s); got != e {
				t.Errorf("got %+v, want %+v", got, e)
			}
		})
	}

	if be.outage == nil {
		return
	}
	t.Run("an outage ends subscriptions with ErrBrokerDown, and new ones work once it is over", func(t *testing.T) {
		a, b := be.instances(t)
		if err := b.Ready(); err != nil {
			t.Fatalf("Ready before the outage: %v", err)
		}
		alice := subscribe(t, b, "alice")
		bob := subscribe(t, b, "bob")
		onA := subscribe(t, a, "alice")

		restore := be.outage(t)
		for name, s := range map[string]*Subscription{"alice": alice, "bob": bob, "alice on a": onA} {
			if err := ended(t, s); !errors.Is(err, ErrBrokerDown) {
				t.Errorf("%s's subscription ended with %v, want ErrBrokerDown", name, err)
			}
		}
		if err := b.Ready(); !errors.Is(err, ErrBrokerDown) {
			t.Errorf("Ready during the outage: %v, want ErrBrokerDown", err)
		}
		if _, err := b.Subscribe(context.Background(), "alice"); !errors.Is(err, ErrBrokerDown) {
			t.Errorf("Subscribe during the outage: %v, want ErrBrokerDown", err)
		}

		restore()
		var s *Subscription
		eventually(t, "subscribing after the outage", func() (err error) {
			s, err = b.Subscribe(context.Background(), "alice")
			return err
		})
		t.Cleanup(s.Close)
		if err := b.Ready(); err != nil {
			t.Errorf("Ready after the outage: %v", err)
		}
		e := event(Updated, "alice")
		eventually(t, "publishing after the outage", func() error {
			return a.Publish(context.Background(), e)
		})
		if got := recv(t, s); got != e {
			t.Errorf("got %+v, want %+v", got, e)
		}
	})
}

// testHealthCheck checks that a listener left quiet for many health intervals
// is pinged, stays up and still delivers; a and b have a short HealthInterval.
func testHealthCheck(t *testing.T, a, b Broker, pings func() int64) {
	t.Helper()
	s := subscribe(t, b, "alice")
	eventually(t, "pinging the quiet listener", func() error {
		if n := pings(); n < 3 {
			return fmt.Errorf("%d pings", n)
		}
		return nil
	})
	if err := b.Ready(); err != nil {
		t.Errorf("Ready after pings: %v", err)
	}
	e := event(Updated, "alice")
	publish(t, a, e)
	if got := recv(t, s); got != e {
		t.Errorf("got %+v, want %+v", got, e)
	}
}
