package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/ent/task"
	"github.com/taskapi/server/internal/broker"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
)

// Resolver is the root resolver. It holds no per-request state: the viewer
// travels in the context and ent privacy applies it.
type Resolver struct {
	client *ent.Client
	// events are the task changes taskChanged delivers.
	events broker.Broker
}

// NewSchema returns the executable schema over client, its subscriptions
// fed by events.
func NewSchema(client *ent.Client, events broker.Broker) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: &Resolver{client: client, events: events}})
}

// mutator is the client a mutation writes through: the operation's
// transaction when it has several mutations (see NewHandler), else the
// resolver's client.
func (r *Resolver) mutator(ctx context.Context) *ent.Client {
	if tx := ent.FromContext(ctx); tx != nil {
		return tx
	}
	return r.client
}

// updateTask updates one of the caller's tasks and reads it back, both
// statements filtered by the caller (ent's UpdateOne re-reads by id alone,
// in a transaction of its own): every statement is keyed by user_id, and
// no BEGIN and COMMIT round trips. A task that is not the caller's updates
// no row and is not found. The read is not atomic with the update: a task
// deleted in between answers NOT_FOUND (its UPDATED event has gone out),
// and one changed in between answers as it now is.
func (r *Resolver) updateTask(ctx context.Context, id uuid.UUID, input ent.UpdateTaskInput) (*ent.Task, error) {
	c := r.mutator(ctx)
	if _, err := c.Task.Update().Where(task.ID(id)).SetInput(input).Save(ctx); err != nil {
		return nil, err
	}
	return c.Task.Get(ctx, id)
}

// MaxCountUpTo bounds TaskConnection.count's atMost: counting stops after
// that many of the caller's matching tasks.
const MaxCountUpTo = 10_000

// CountBucket is how many ids a count(atMost:) reads, less one: the first
// of 10, 100, 1,000 and 10,000 that holds atMost. ent writes the limit into
// the statement's text, and a few buckets keep the statements few.
func CountBucket(atMost int) int {
	b := 10
	for b < atMost && b < MaxCountUpTo {
		b *= 10
	}
	return b
}

// CountsAtOnce bounds the count statements one operation runs at once:
// gqlgen resolves each aliased count in a goroutine of its own, and
// unbounded they would hold every pooled connection.
const CountsAtOnce = 2

// countUpTo counts the tasks of the enclosing tasks(...) connection's filter,
// stopping after atMost: it reads at most CountBucket(atMost)+1 ids through
// privacy, like any query.
func (r *Resolver) countUpTo(ctx context.Context, atMost int) (*TaskCount, error) {
	if atMost < 1 || atMost > MaxCountUpTo {
		return nil, gqlerr.BadInput("atMost", fmt.Sprintf("atMost must be from 1 to %d", MaxCountUpTo))
	}
	q := r.client.Task.Query()
	// The connection's own arguments: its filter, not its cursors, as
	// totalCount counts.
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Field.Name != "tasks" || fc.Object != "Query" {
			continue
		}
		if where, _ := fc.Args["where"].(*ent.TaskWhereInput); where != nil {
			var err error
			if q, err = where.Filter(q); err != nil {
				return nil, err
			}
		}
		break
	}
	if s := slotsFrom(ctx); s != nil {
		slots := s.countSlots()
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// In the listing index's order, so that the scan stops at the limit
	// (unordered, PostgreSQL may read the table from its start), planned
	// for the caller's values: a plan cached for a filter's average
	// selectivity may read and sort every match.
	ids, err := q.Order(ent.Desc(task.FieldCreatedAt), ent.Desc(task.FieldID)).
		Limit(CountBucket(atMost) + 1).IDs(database.WithCustomPlans(ctx))
	if err != nil {
		return nil, err
	}
	return &TaskCount{Value: min(len(ids), atMost), Exact: len(ids) <= atMost}, nil
}
