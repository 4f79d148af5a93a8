package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Redis carries events over Redis pub/sub, on one channel per user:
// Channel + ":" + user id.
//
// With one shared channel every instance would receive, decode and drop every
// event of every user: traffic grows with instances × all writes. With a
// channel per user, Redis sends an event only to the instances that hold a
// subscriber of its user, at the cost of a SUBSCRIBE when an instance gets
// its first subscriber for a user and an UNSUBSCRIBE when it loses the last.
// Exact channels, not PSUBSCRIBE patterns: Redis matches each PUBLISH against
// every pattern of every client, but finds exact channels with one lookup.
// Per-user channels are also what sharded pub/sub (SSUBSCRIBE, Redis 7
// cluster) needs to spread the load across shards.
//
// go-redis's PubSub reconnects silently, which would hide the events lost in
// between; so the broker reads it itself (ReceiveTimeout, with a PING when it
// is quiet), treats any error as an outage, and starts a fresh PubSub.
type Redis struct {
	opts    Options
	log     *slog.Logger
	hub     *hub
	batch   *batcher
	client  *redis.Client
	cancel  context.CancelFunc
	stopped chan struct{}
	pings   atomic.Int64 // health checks sent, for tests

	mu      sync.Mutex
	ps      *redis.PubSub // the current connection, live or being dialled
	up      bool
	lastErr error
	closed  bool
	chans   map[string]*redisChan   // by user id: the channels subscribed on ps
	pending map[string][]*redisChan // by channel: SUBSCRIBEs awaiting their confirmation, in order sent
}

// redisChan is one user's channel on one connection.
type redisChan struct {
	refs  int           // live subscriptions of the user on this instance
	ready chan struct{} // closed when Redis confirms the SUBSCRIBE
	dead  chan struct{} // closed when the connection it was sent on is lost
}

var _ Broker = (*Redis)(nil)

// NewRedis connects to the Redis server at url (redis://…), failing if it
// cannot be reached now; after that, it reconnects on its own. Unless url
// names a client, its connections are named ClientName(opts.Channel).
func NewRedis(ctx context.Context, url string, opts Options) (*Redis, error) {
	opts = opts.withDefaults()
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing broker redis url: %w", err)
	}
	if ro.ClientName == "" {
		ro.ClientName = ClientName(opts.Channel)
	}
	r := &Redis{
		opts:    opts,
		log:     opts.Logger.With("broker", "redis", "channel", opts.Channel),
		hub:     newHub(opts.BufferSize),
		client:  redis.NewClient(ro),
		stopped: make(chan struct{}),
		chans:   make(map[string]*redisChan),
		pending: make(map[string][]*redisChan),
	}
	ps, err := r.dial(ctx)
	if err != nil {
		r.client.Close()
		return nil, err
	}
	r.setUp(ps)
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.batch = newBatcher(opts, r.log, r.publishAll)
	go r.run(runCtx, ps)
	return r, nil
}

// ClientName is the name of the Redis connections of a broker on channel, by
// which operators (and tests) can find them in CLIENT LIST.
func ClientName(channel string) string { return "broker:" + channel }

func (r *Redis) channel(userID string) string { return r.opts.Channel + ":" + userID }

// dial opens a PubSub and waits for the answer to a PING, so that "up" means
// the server has answered, not merely that a socket opened.
func (r *Redis) dial(ctx context.Context) (*redis.PubSub, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	ps := r.client.Subscribe(ctx) // no channels yet: no round trip
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ps.Close()
		return nil, ErrClosed
	}
	r.ps = ps // so that Close can interrupt the dial
	r.mu.Unlock()
	if err := ps.Ping(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("pinging redis: %w", err)
	}
	if _, err := ps.ReceiveTimeout(ctx, connectTimeout); err != nil {
		ps.Close()
		return nil, fmt.Errorf("awaiting redis pong: %w", err)
	}
	return ps, nil
}

func (r *Redis) run(ctx context.Context, ps *redis.PubSub) {
	defer close(r.stopped)
	for {
		err := r.receive(ctx, ps)
		if ctx.Err() != nil {
			return
		}
		r.setDown(err)
		if ps, err = redial(ctx, r.opts, r.log, r.dial); err != nil {
			return
		}
		r.setUp(ps)
		r.log.Info("event broker reconnected")
	}
}

// receive hands messages to the hub and confirms SUBSCRIBEs until the
// connection fails.
func (r *Redis) receive(ctx context.Context, ps *redis.PubSub) error {
	pinged := false
	for {
		wait := r.opts.HealthInterval
		if pinged {
			wait = r.opts.answerTimeout() // for the pong, or anything else
		}
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// A silent connection may be a dead one that TCP has not noticed.
				r.pings.Add(1)
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("pinging redis: %w", err)
				}
				pinged = true
				continue
			}
			return fmt.Errorf("receiving from redis: %w", err)
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			r.deliver(m)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.confirm(m.Channel)
			}
		}
	}
}

func (r *Redis) deliver(m *redis.Message) {
	e, err := decode(m.Payload)
	if err == nil && m.Channel != r.channel(e.UserID) {
		err = errors.New("event for another user's channel")
	}
	if err != nil {
		r.log.Warn("dropping message", "err", err, "bytes", len(m.Payload))
		return
	}
	r.hub.publish(e)
}

func (r *Redis) confirm(channel string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.pending[channel]
	if len(q) == 0 {
		return
	}
	close(q[0].ready)
	if len(q) == 1 {
		delete(r.pending, channel)
	} else {
		r.pending[channel] = q[1:]
	}
}

func (r *Redis) setDown(err error) {
	r.mu.Lock()
	r.up, r.lastErr = false, err
	for _, c := range r.chans {
		close(c.dead)
	}
	clear(r.chans)
	clear(r.pending)
	ps := r.ps
	r.ps = nil
	r.mu.Unlock()
	if ps != nil {
		ps.Close()
	}
	r.log.Error("event broker down; ending subscriptions and reconnecting", "err", err)
	r.hub.setDown(ErrBrokerDown)
}

func (r *Redis) setUp(ps *redis.PubSub) {
	r.mu.Lock()
	r.ps, r.up, r.lastErr = ps, true, nil
	r.mu.Unlock()
	r.hub.setUp()
}

// Publish sends e on its user's channel.
func (r *Redis) Publish(ctx context.Context, e Event) error {
	if err := e.validate(); err != nil {
		return err
	}
	if r.isClosed() {
		return ErrClosed
	}
	return r.batch.publish(ctx, e)
}

// publishAll sends a batch of events in one pipeline: one round trip.
func (r *Redis) publishAll(ctx context.Context, events []Event) error {
	pipe := r.client.Pipeline()
	for _, e := range events {
		pipe.Publish(ctx, r.channel(e.UserID), encode(e))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("publishing task events: %w", err)
	}
	return nil
}

// Subscribe delivers userID's events to the returned subscription. It
// returns once Redis has confirmed the user's channel, so an event published
// after it returns is delivered; it returns ErrBrokerDown while reconnecting.
func (r *Redis) Subscribe(ctx context.Context, userID string) (*Subscription, error) {
	if err := validUserID(userID); err != nil {
		return nil, err
	}
	c, err := r.retain(ctx, userID)
	if err != nil {
		return nil, err
	}
	s, err := r.hub.subscribe(ctx, userID, func() { r.release(userID, c) })
	if err != nil {
		r.release(userID, c)
		return nil, err
	}
	select {
	case <-c.ready:
		return s, nil
	case <-c.dead:
		s.Close()
		return nil, ErrBrokerDown
	case <-s.Done():
		return nil, s.Err()
	}
}

// retain counts a subscription of userID on the current connection, sending
// SUBSCRIBE for the first. Sending and queueing the confirmation's waiter
// under r.mu keeps the queue in the order Redis answers in.
func (r *Redis) retain(ctx context.Context, userID string) (*redisChan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return nil, ErrClosed
	case !r.up:
		return nil, ErrBrokerDown
	}
	if c := r.chans[userID]; c != nil {
		c.refs++
		return c, nil
	}
	ch := r.channel(userID)
	if err := r.ps.Subscribe(ctx, ch); err != nil {
		// The connection is broken: closing it makes receive see the outage.
		r.ps.Close()
		return nil, fmt.Errorf("%w: subscribing: %w", ErrBrokerDown, err)
	}
	c := &redisChan{refs: 1, ready: make(chan struct{}), dead: make(chan struct{})}
	r.chans[userID] = c
	r.pending[ch] = append(r.pending[ch], c)
	return c, nil
}

// release undoes retain, sending UNSUBSCRIBE after the last subscription.
// A channel from a lost connection is gone already.
func (r *Redis) release(userID string, c *redisChan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.chans[userID] != c {
		return
	}
	if c.refs--; c.refs > 0 {
		return
	}
	delete(r.chans, userID)
	if err := r.ps.Unsubscribe(context.Background(), r.channel(userID)); err != nil {
		r.ps.Close()
	}
}

// Ready returns nil while the pub/sub connection is up, and an error wrapping
// ErrBrokerDown and the cause while it is not.
func (r *Redis) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrClosed
	case !r.up:
		return fmt.Errorf("%w: %w", ErrBrokerDown, r.lastErr)
	}
	return nil
}

func (r *Redis) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close stops the receiver, ends every subscription with ErrClosed and
// closes the client.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ps := r.ps
	r.mu.Unlock()
	r.batch.close()
	r.cancel()
	if ps != nil {
		ps.Close() // unblocks ReceiveTimeout, which ignores ctx
	}
	<-r.stopped
	r.hub.setDown(ErrClosed)
	return r.client.Close()
}

// Subscribers returns how many live subscriptions userID has on this
// instance.
func (r *Redis) Subscribers(userID string) int { return r.hub.subscribers(userID) }
