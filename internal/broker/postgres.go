package broker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres carries events over PostgreSQL LISTEN/NOTIFY on one channel.
//
// It listens on a dedicated connection of its own, not one from the app's
// pool: LISTEN belongs to a session, which transaction-mode poolers (Neon's
// -pooler hosts, PgBouncer) do not keep, so connString must reach the server
// directly. Publish uses a small pool (at most publishConns connections) made
// from the same connString, so a burst of mutations never waits on the
// listener nor takes connections from the app.
//
// The listener is a hand loop over pgx.Conn.WaitForNotification rather than
// pgxlisten: the broker must know the moment the connection is lost (to end
// subscriptions) and the moment LISTEN is back (to accept them again), and
// pgxlisten reports neither, retrying after a fixed delay.
type Postgres struct {
	opts    Options
	log     *slog.Logger
	hub     *hub
	batch   *batcher
	listen  *pgx.ConnConfig
	pool    *pgxpool.Pool
	cancel  context.CancelFunc
	stopped chan struct{}
	pings   atomic.Int64 // health checks sent, for tests

	mu      sync.Mutex
	lastErr error // why the listener is down; nil while it is up
	closed  bool
}

var _ Broker = (*Postgres)(nil)

// publishConns bounds the publishing pool: pg_notify returns at once, so a
// few connections carry many mutations.
const publishConns = 4

// NewPostgres connects the listener and the publishing pool to connString,
// failing if the server cannot be reached now; after that, it reconnects on
// its own. The listener's application_name is ListenerName(opts.Channel).
func NewPostgres(ctx context.Context, connString string, opts Options) (*Postgres, error) {
	opts = opts.withDefaults()
	if len(opts.Channel) > 63 {
		return nil, fmt.Errorf("channel %q: longer than a PostgreSQL identifier (63 bytes)", opts.Channel)
	}
	lc, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("parsing broker connection string: %w", err)
	}
	// The same URL may configure the app's pool (pool_max_conns, …):
	// pgxpool's parameters, not the server's.
	for k := range lc.RuntimeParams {
		if strings.HasPrefix(k, "pool_") {
			delete(lc.RuntimeParams, k)
		}
	}
	lc.RuntimeParams["application_name"] = ListenerName(opts.Channel)
	pc, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("parsing broker connection string: %w", err)
	}
	pc.MaxConns = publishConns
	p := &Postgres{
		opts:    opts,
		log:     opts.Logger.With("broker", "postgres", "channel", opts.Channel),
		hub:     newHub(opts.BufferSize),
		listen:  lc,
		stopped: make(chan struct{}),
	}
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	if p.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("opening broker publishing pool: %w", err)
	}
	p.batch = newBatcher(opts, p.log, p.notify)
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(runCtx, conn)
	return p, nil
}

// ListenerName is the application_name of the listening connection for
// channel, by which operators (and tests) can find it in pg_stat_activity.
func ListenerName(channel string) string {
	name := "broker:" + channel
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

func (p *Postgres) dial(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, p.listen)
	if err != nil {
		return nil, fmt.Errorf("connecting broker listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.opts.Channel}.Sanitize()); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("listening on %q: %w", p.opts.Channel, err)
	}
	return conn, nil
}

func (p *Postgres) run(ctx context.Context, conn *pgx.Conn) {
	defer close(p.stopped)
	for {
		err := p.receive(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.setDown(err)
		if conn, err = redial(ctx, p.opts, p.log, p.dial); err != nil {
			return
		}
		p.setUp()
	}
}

// receive hands notifications to the hub until the connection fails.
func (p *Postgres) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, p.opts.HealthInterval)
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			p.deliver(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case timedOut && !conn.IsClosed():
			// A silent connection may be a dead one that TCP has not noticed.
			p.pings.Add(1)
			pctx, cancel := context.WithTimeout(ctx, p.opts.answerTimeout())
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("pinging broker listener: %w", err)
			}
		default:
			return fmt.Errorf("waiting for notification: %w", err)
		}
	}
}

func (p *Postgres) deliver(payload string) {
	e, err := decode(payload)
	if err != nil {
		p.log.Warn("dropping notification", "err", err, "bytes", len(payload))
		return
	}
	p.hub.publish(e)
}

func (p *Postgres) setDown(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
	p.log.Error("event broker down; ending subscriptions and reconnecting", "err", err)
	p.hub.setDown(ErrBrokerDown)
}

func (p *Postgres) setUp() {
	p.mu.Lock()
	p.lastErr = nil
	p.mu.Unlock()
	p.hub.setUp()
	p.log.Info("event broker reconnected")
}

// Publish notifies every instance listening on the channel.
func (p *Postgres) Publish(ctx context.Context, e Event) error {
	if err := e.validate(); err != nil {
		return err
	}
	if p.isClosed() {
		return ErrClosed
	}
	return p.batch.publish(ctx, e)
}

// notify sends a batch of events in one statement: one transaction, one
// commit's worth of PostgreSQL's notification queue lock.
func (p *Postgres) notify(ctx context.Context, events []Event) error {
	payloads := make([]string, len(events))
	for i, e := range events {
		payloads[i] = encode(e)
	}
	if _, err := p.pool.Exec(ctx, "SELECT pg_notify($1, e) FROM unnest($2::text[]) AS e", p.opts.Channel, payloads); err != nil {
		return fmt.Errorf("publishing task events: %w", err)
	}
	return nil
}

// Subscribe delivers userID's events to the returned subscription. It
// returns ErrBrokerDown while the listener is reconnecting.
func (p *Postgres) Subscribe(ctx context.Context, userID string) (*Subscription, error) {
	if err := validUserID(userID); err != nil {
		return nil, err
	}
	return p.hub.subscribe(ctx, userID, nil)
}

// Ready returns nil while the listener is connected, and an error wrapping
// ErrBrokerDown and the cause while it is not.
func (p *Postgres) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.lastErr != nil:
		return fmt.Errorf("%w: %w", ErrBrokerDown, p.lastErr)
	}
	return nil
}

func (p *Postgres) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close stops the listener, ends every subscription with ErrClosed and closes
// the publishing pool.
func (p *Postgres) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.batch.close()
	p.cancel()
	<-p.stopped
	p.hub.setDown(ErrClosed)
	p.pool.Close()
	return nil
}

// Subscribers returns how many live subscriptions userID has on this
// instance.
func (p *Postgres) Subscribers(userID string) int { return p.hub.subscribers(userID) }
