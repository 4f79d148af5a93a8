package broker

import (
	"context"
	"log/slog"
	"time"
)

// maxBatch bounds the events one round trip to the backend carries.
const maxBatch = 256

// linger is how long a batch waits for more events after its first: under
// load each PostgreSQL NOTIFY transaction then carries many events (one
// each cost PostgreSQL about 20% more CPU per created task), at the price
// of a few milliseconds on an event's way to its subscribers.
const linger = 5 * time.Millisecond

// batcher sends events to a backend from one goroutine, as many at once as
// have queued up meanwhile: under load one round trip (one NOTIFY
// transaction, one pipeline) carries many events, where one each would cost
// every mutation a round trip and PostgreSQL a commit. Publish waits only
// for room in the queue, which is bounded, so a stalled backend slows
// writers (up to PublishTimeout) instead of growing memory.
type batcher struct {
	queue   chan Event
	stop    chan struct{}
	stopped chan struct{}
	send    func(context.Context, []Event) error
	timeout time.Duration
	log     *slog.Logger
}

func newBatcher(opts Options, log *slog.Logger, send func(context.Context, []Event) error) *batcher {
	b := &batcher{
		queue:   make(chan Event, 4*maxBatch),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		send:    send,
		timeout: opts.PublishTimeout,
		log:     log,
	}
	go b.run()
	return b
}

// publish queues e, waiting at most PublishTimeout (and ctx) for room.
func (b *batcher) publish(ctx context.Context, e Event) error {
	select {
	case b.queue <- e:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	select {
	case b.queue <- e:
		return nil
	case <-b.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) run() {
	defer close(b.stopped)
	batch := make([]Event, 0, maxBatch)
	wait := time.NewTimer(linger)
	wait.Stop()
	for {
		select {
		case e := <-b.queue:
			batch = append(batch[:0], e)
		case <-b.stop:
			b.drain(batch[:0])
			return
		}
		wait.Reset(linger)
	gather:
		for len(batch) < maxBatch {
			select {
			case e := <-b.queue:
				batch = append(batch, e)
			case <-wait.C:
				break gather
			case <-b.stop:
				b.flush(batch)
				b.drain(batch[:0])
				return
			}
		}
		wait.Stop()
		b.flush(batch)
	}
}

// drain sends what was queued before Close.
func (b *batcher) drain(batch []Event) {
	for {
		batch = b.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		b.flush(batch)
	}
}

// fill adds what is queued now, up to maxBatch.
func (b *batcher) fill(batch []Event) []Event {
	for len(batch) < maxBatch {
		select {
		case e := <-b.queue:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

func (b *batcher) flush(batch []Event) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if err := b.send(ctx, batch); err != nil {
		// The changes are committed; their subscribers miss these events.
		// A backend this broken also ends the listeners' subscriptions,
		// which tells clients to reconnect and refetch.
		b.log.Error("task events not published", "events", len(batch), "error", err)
	}
}

// close sends what is queued and stops.
func (b *batcher) close() {
	close(b.stop)
	<-b.stopped
}
