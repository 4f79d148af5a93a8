package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/ent/hook"
	"github.com/taskapi/server/internal/broker"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/viewer"
)

// PublishChanges makes every change to a task through client an event on
// b, sent once the change is committed: inside a transaction (an operation
// of several mutations), when it commits; otherwise when the statement
// returns. Events carry ids only. A publish that fails is logged: the
// change stands, and subscribers that missed it are told by the broker.
func PublishChanges(client *ent.Client, b broker.Broker, logger *slog.Logger) {
	client.Task.Use(func(next ent.Mutator) ent.Mutator {
		return hook.TaskFunc(func(ctx context.Context, m *ent.TaskMutation) (ent.Value, error) {
			var ids []uuid.UUID
			if m.Op().Is(ent.OpUpdate | ent.OpDelete) {
				// Bulk changes (none through the API): which rows, before
				// they change.
				var err error
				if ids, err = m.IDs(ctx); err != nil {
					return nil, err
				}
			}
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			events := changed(ctx, m, v, ids)
			if len(events) == 0 {
				return v, nil
			}
			publish := func() {
				// The change is made: its events go out even if the
				// request's context ends now.
				ctx := context.WithoutCancel(ctx)
				for _, e := range events {
					if err := b.Publish(ctx, e); err != nil {
						logger.WarnContext(ctx, "events: not published", "kind", e.Kind.String(), "task", e.TaskID, "error", err)
					}
				}
			}
			if tx, err := m.Tx(); err == nil {
				afterCommit(tx, publish)
				return v, nil
			}
			publish()
			return v, nil
		})
	})
}

// afterCommit runs publish once tx commits; nothing if it rolls back.
// ent runs commit hooks innermost first, which would send one operation's
// events in reverse: each hook hands its publish to the outermost one
// (through the context ent passes down the chain), which runs them all in
// the order the mutations ran.
func afterCommit(tx *ent.Tx, publish func()) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if later, inner := ctx.Value(publishesKey{}).(*[]func()); inner {
				if err := next.Commit(ctx, tx); err != nil {
					return err
				}
				*later = append(*later, publish)
				return nil
			}
			var later []func()
			if err := next.Commit(context.WithValue(ctx, publishesKey{}, &later), tx); err != nil {
				return err
			}
			publish()
			// Innermost (the last mutation's) first in later.
			for i := len(later) - 1; i >= 0; i-- {
				later[i]()
			}
			return nil
		})
	})
}

type publishesKey struct{}

// changed lists the events of a mutation that returned v; ids are the rows
// a bulk update or delete touched.
func changed(ctx context.Context, m *ent.TaskMutation, v ent.Value, ids []uuid.UUID) []broker.Event {
	if t, ok := v.(*ent.Task); ok {
		kind := broker.Updated
		if m.Op().Is(ent.OpCreate) {
			kind = broker.Created
		}
		return []broker.Event{{Kind: kind, UserID: t.UserID, TaskID: t.ID}}
	}
	// Deletes (and bulk updates) answer a count: the owner is the viewer,
	// as privacy lets no one else change a row. A count of none changed
	// nothing (a row read before the change was deleted meanwhile).
	vw, ok := viewer.FromContext(ctx)
	if n, _ := v.(int); !ok || n == 0 {
		return nil
	}
	kind := broker.Updated
	if m.Op().Is(ent.OpDelete | ent.OpDeleteOne) {
		kind = broker.Deleted
	}
	if id, exists := m.ID(); exists && m.Op().Is(ent.OpDeleteOne|ent.OpUpdateOne) {
		ids = []uuid.UUID{id}
	}
	events := make([]broker.Event, 0, len(ids))
	for _, id := range ids {
		events = append(events, broker.Event{Kind: kind, UserID: vw.Subject, TaskID: id})
	}
	return events
}

// taskChanged subscribes the viewer to their tasks' events. The broker's
// buffer bounds what waits for a slow client; past it, or when the broker
// goes down, the socket is closed with CloseTryAgainLater, and the client
// reconnects and refetches what it may have missed.
func (r *Resolver) taskChanged(ctx context.Context) (<-chan *TaskEvent, error) {
	conn := wsConnFrom(ctx)
	v, ok := viewer.FromContext(ctx)
	if conn == nil || !ok {
		return nil, &gqlerror.Error{Message: "subscriptions are served over a WebSocket (graphql-transport-ws) on /query",
			Extensions: map[string]any{"code": gqlerr.TransportNotSupported}}
	}
	sub, err := r.events.Subscribe(ctx, v.Subject)
	if err != nil {
		return nil, &gqlerror.Error{Message: "task events are unavailable for now: subscribe again shortly",
			Extensions: map[string]any{"code": gqlerr.Unavailable}}
	}
	out := make(chan *TaskEvent)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case e, open := <-sub.Events():
				if !open {
					// Ended before its socket: close the socket first, so
					// that gqlgen sends no complete, after which a
					// graphql-ws client would not subscribe again.
					switch err := sub.Err(); {
					case errors.Is(err, broker.ErrBrokerDown), errors.Is(err, broker.ErrSlowConsumer):
						conn.end(CloseTryAgainLater, err.Error())
					case errors.Is(err, broker.ErrClosed):
						conn.end(CloseGoingAway, "server shutting down")
					}
					return
				}
				select {
				case out <- &TaskEvent{Kind: eventKinds[e.Kind], TaskID: e.TaskID}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

var eventKinds = map[broker.Kind]TaskEventKind{
	broker.Created: TaskEventKindCreated,
	broker.Updated: TaskEventKindUpdated,
	broker.Deleted: TaskEventKindDeleted,
}

// eventTask reads an event's task as the subscriber's own query would:
// null once deleted, and never another user's.
func (r *Resolver) eventTask(ctx context.Context, e *TaskEvent) (*ent.Task, error) {
	if e.Kind == TaskEventKindDeleted {
		return nil, nil
	}
	t, err := r.client.Task.Get(ctx, e.TaskID)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return t, err
}
