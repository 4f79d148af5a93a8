// Package broker carries task change events between the server's instances,
// so that a taskChanged subscriber hears of a change made through any of them.
//
// An event carries ids only. Each instance loads the task through its own
// privacy layer for its own subscribers, so no task text ever crosses the
// backend, and a subscriber can never learn more than a query would tell it.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Kind says what happened to a task.
type Kind uint8

// The zero Kind is invalid, so a forgotten field is refused rather than sent.
const (
	Created Kind = iota + 1
	Updated
	Deleted
)

// String returns the name the GraphQL schema uses for k.
func (k Kind) String() string {
	switch k {
	case Created:
		return "CREATED"
	case Updated:
		return "UPDATED"
	case Deleted:
		return "DELETED"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= Created && k <= Deleted }

// MaxUserIDLen is the longest user id (JWT subject) an event may carry, in
// bytes: the owner column's bound.
const MaxUserIDLen = 255

// Event tells a user's subscribers that one of their tasks changed.
type Event struct {
	Kind   Kind
	UserID string
	TaskID uuid.UUID
}

// Broker carries events between the server's instances.
type Broker interface {
	// Publish sends e to every instance's subscribers of e.UserID, this
	// one's included. It is bounded by ctx and Options.PublishTimeout.
	Publish(ctx context.Context, e Event) error
	// Subscribe delivers the events for userID to the returned
	// subscription until it ends; see Subscription for how it can end.
	Subscribe(ctx context.Context, userID string) (*Subscription, error)
	// Ready reports whether the broker is connected to its backend, for
	// /readyz.
	Ready() error
	// Close ends every subscription with ErrClosed and releases the backend.
	Close() error
}

// ErrSlowConsumer ends a subscription whose buffer was full when an event
// arrived: cutting it off keeps memory bounded, and the client resubscribes.
var ErrSlowConsumer = errors.New("subscriber fell behind")

// ErrBrokerDown ends every subscription when the connection to the backend is
// lost, since events may have been missed; Subscribe returns it until the
// broker has reconnected.
var ErrBrokerDown = errors.New("event broker is down")

// ErrClosed is returned by a closed broker, and ends its subscriptions.
var ErrClosed = errors.New("event broker closed")

// ErrInvalid is returned for an event or user id that could not be carried.
var ErrInvalid = errors.New("invalid event")

// Options tune a broker; the zero value is ready to use.
type Options struct {
	// BufferSize is how many events a subscription holds before it is cut
	// off with ErrSlowConsumer. Default 64.
	BufferSize int
	// Logger receives outages, reconnections and dropped payloads. Default:
	// discard.
	Logger *slog.Logger
	// Channel is the PostgreSQL channel, or the prefix of the Redis
	// channels. Instances talk to each other only if they agree on it.
	// Default "tasks_events".
	Channel string
	// PublishTimeout bounds Publish when ctx allows longer, so a stalled
	// backend never holds up a mutation's response. Default 5s.
	PublishTimeout time.Duration
	// HealthInterval is how long the listening connection may stay silent
	// before it is pinged; a ping unanswered for as long means an outage.
	// Default 15s.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles after each failure. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
}

// DefaultChannel is the channel (PostgreSQL) or channel prefix (Redis) used
// when Options.Channel is empty.
const DefaultChannel = "tasks_events"

func (o Options) withDefaults() Options {
	if o.BufferSize <= 0 {
		o.BufferSize = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 15 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	return o
}

// connectTimeout bounds one connection attempt, so an unreachable backend
// turns into a retry instead of a hang.
const connectTimeout = 10 * time.Second

func validUserID(userID string) error {
	switch {
	case userID == "":
		return fmt.Errorf("%w: empty user id", ErrInvalid)
	case len(userID) > MaxUserIDLen:
		return fmt.Errorf("%w: user id longer than %d bytes", ErrInvalid, MaxUserIDLen)
	case !utf8.ValidString(userID):
		return fmt.Errorf("%w: user id is not UTF-8", ErrInvalid)
	}
	for i := range len(userID) {
		if userID[i] == 0 {
			return fmt.Errorf("%w: user id contains NUL", ErrInvalid)
		}
	}
	return nil
}

func (e Event) validate() error {
	if !e.Kind.valid() {
		return fmt.Errorf("%w: unknown kind %d", ErrInvalid, uint8(e.Kind))
	}
	if e.TaskID == uuid.Nil {
		return fmt.Errorf("%w: nil task id", ErrInvalid)
	}
	return validUserID(e.UserID)
}

// answerTimeout is how long a health ping's answer may take: the silence
// allowed, but never under a second, so that a busy machine is not taken
// for a dead connection.
func (o Options) answerTimeout() time.Duration { return max(o.HealthInterval, time.Second) }
