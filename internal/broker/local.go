package broker

import "context"

// Local is the broker of a single process (SQLite, or one instance): publish
// goes straight to the local hub.
type Local struct {
	hub *hub
}

var _ Broker = (*Local)(nil)

// NewLocal returns a broker for a single process.
func NewLocal(opts Options) *Local {
	opts = opts.withDefaults()
	return &Local{hub: newHub(opts.BufferSize)}
}

// Publish delivers e to this process's subscribers of e.UserID.
func (l *Local) Publish(ctx context.Context, e Event) error {
	if err := e.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.Ready(); err != nil {
		return err
	}
	l.hub.publish(e)
	return nil
}

// Subscribe delivers userID's events to the returned subscription.
func (l *Local) Subscribe(ctx context.Context, userID string) (*Subscription, error) {
	if err := validUserID(userID); err != nil {
		return nil, err
	}
	return l.hub.subscribe(ctx, userID, nil)
}

// Ready returns nil until Close.
func (l *Local) Ready() error {
	l.hub.mu.Lock()
	defer l.hub.mu.Unlock()
	return l.hub.down
}

// Close ends every subscription with ErrClosed.
func (l *Local) Close() error {
	l.hub.setDown(ErrClosed)
	return nil
}

// Subscribers returns how many live subscriptions userID has on this
// instance.
func (l *Local) Subscribers(userID string) int { return l.hub.subscribers(userID) }
