package broker

import (
	"context"
	"sync"
)

// hub fans events out to this process's subscriptions. Every implementation
// shares it: a backend only carries encoded events between processes and
// hands them to publish here.
//
// Delivery never blocks: an event goes into each subscription's buffer or
// the subscription is ended, so one stuck client cannot hold up the others or
// the backend's reader.
type hub struct {
	bufferSize int

	mu    sync.Mutex
	users map[string]map[*Subscription]struct{}
	down  error // while non-nil, new subscriptions are refused with it
}

func newHub(bufferSize int) *hub {
	return &hub{bufferSize: bufferSize, users: make(map[string]map[*Subscription]struct{})}
}

// Subscription receives one user's events until it ends.
type Subscription struct {
	hub    *hub
	userID string
	events chan Event
	done   chan struct{}
	onEnd  func() // the backend's cleanup, called once after the end

	// Guarded by hub.mu.
	ended bool
	err   error
	stop  func() bool // unregisters the context's AfterFunc
}

// Events delivers the subscription's events in publication order. It is
// closed when the subscription ends, after the events already buffered.
func (s *Subscription) Events() <-chan Event { return s.events }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended: nil after Close, ErrSlowConsumer,
// ErrBrokerDown, ErrClosed, or the error of the context given to Subscribe.
// It is nil while the subscription is live.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription; it is safe to call more than once and after
// the subscription has ended for another reason, whose error it keeps.
func (s *Subscription) Close() { s.hub.end(s, nil) }

func (h *hub) subscribe(ctx context.Context, userID string, onEnd func()) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Subscription{
		hub:    h,
		userID: userID,
		events: make(chan Event, h.bufferSize),
		done:   make(chan struct{}),
		onEnd:  onEnd,
	}
	h.mu.Lock()
	if err := h.down; err != nil {
		h.mu.Unlock()
		return nil, err
	}
	set := h.users[userID]
	if set == nil {
		set = make(map[*Subscription]struct{})
		h.users[userID] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()

	// Registered after the subscription is in the map, so a context that is
	// already done ends it at once; no goroutine waits per subscription.
	stop := context.AfterFunc(ctx, func() { h.end(s, ctx.Err()) })
	h.mu.Lock()
	if s.ended {
		h.mu.Unlock()
		stop()
	} else {
		s.stop = stop
		h.mu.Unlock()
	}
	return s, nil
}

// publish delivers e to this process's subscriptions of e.UserID.
func (h *hub) publish(e Event) {
	var cut []*Subscription
	h.mu.Lock()
	for s := range h.users[e.UserID] {
		select {
		case s.events <- e:
		default:
			h.endLocked(s, ErrSlowConsumer)
			cut = append(cut, s)
		}
	}
	h.mu.Unlock()
	for _, s := range cut {
		s.cleanup()
	}
}

func (h *hub) end(s *Subscription, err error) {
	h.mu.Lock()
	ended := h.endLocked(s, err)
	h.mu.Unlock()
	if ended {
		s.cleanup()
	}
}

// endLocked ends s unless it has ended already; the caller then calls
// s.cleanup outside the lock.
func (h *hub) endLocked(s *Subscription, err error) bool {
	if s.ended {
		return false
	}
	s.ended, s.err = true, err
	if set := h.users[s.userID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.users, s.userID)
		}
	}
	close(s.events)
	close(s.done)
	return true
}

func (s *Subscription) cleanup() {
	s.hub.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.hub.mu.Unlock()
	if stop != nil {
		stop()
	}
	if s.onEnd != nil {
		s.onEnd()
	}
}

// setDown ends every subscription with err and refuses new ones with it until
// setUp.
func (h *hub) setDown(err error) {
	var ended []*Subscription
	h.mu.Lock()
	h.down = err
	for _, set := range h.users {
		for s := range set {
			if h.endLocked(s, err) {
				ended = append(ended, s)
			}
		}
	}
	h.mu.Unlock()
	for _, s := range ended {
		s.cleanup()
	}
}

// setUp accepts new subscriptions again, unless the broker is closed.
func (h *hub) setUp() {
	h.mu.Lock()
	if h.down != ErrClosed {
		h.down = nil
	}
	h.mu.Unlock()
}

// count returns how many subscriptions are live, for tests.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.users {
		n += len(set)
	}
	return n
}

// subscribers returns how many live subscriptions userID has here.
func (h *hub) subscribers(userID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.users[userID])
}
