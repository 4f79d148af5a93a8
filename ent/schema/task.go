package schema

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// Limits on task text, counted in characters (Unicode code points).
const (
	TitleMaxLen       = 200
	DescriptionMaxLen = 2000
)

// Task holds the schema definition for the Task entity.
type Task struct {
	ent.Schema
}

// Mixin of the Task.
func (Task) Mixin() []ent.Mixin {
	return []ent.Mixin{OwnerMixin{}}
}

// Fields of the Task.
func (Task) Fields() []ent.Field {
	return []ent.Field{
		// Random (v4) ids reveal nothing about when or by whom a row was made.
		field.UUID("id", uuid.UUID{}).
			Default(uuid.New).
			Immutable(),
		field.String("title").
			Validate(validText("title", 1, TitleMaxLen)).
			Annotations(entgql.OrderField("TITLE")),
		field.String("description").
			Optional().
			Nillable().
			Validate(validText("description", 0, DescriptionMaxLen)),
		field.Bool("is_completed").
			Default(false),
		field.Time("created_at").
			Default(now).
			Immutable().
			Annotations(
				entgql.OrderField("CREATED_AT"),
				entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
			),
		field.Time("updated_at").
			Default(now).
			UpdateDefault(now).
			Annotations(
				entgql.OrderField("UPDATED_AT"),
				entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
			),
	}
}

// Indexes of the Task.
func (Task) Indexes() []ent.Index {
	return []ent.Index{
		// Serves the default listing: a user's tasks, newest first. The id
		// is the order's tie-break, so a page is read straight off the
		// index, 21 entries, with no sort of all the user's tasks. It also
		// serves every other lookup by owner (OwnerMixin's filter, counts):
		// an index on user_id alone would only tempt PostgreSQL's generic
		// plans for prepared statements into reading all of a user's rows
		// and sorting them.
		index.Fields("user_id", "created_at", "id").
			StorageKey("idx_tasks_user_id_created_at").
			Annotations(entsql.DescColumns("created_at", "id")),
	}
}

// Hooks of the Task.
func (Task) Hooks() []ent.Hook {
	return []ent.Hook{trimTitle, stampCreate}
}

// Annotations of the Task.
func (Task) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("tasks"),
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// now is truncated to microseconds, the precision PostgreSQL keeps, so a
// returned row and the same row read back (and their cursors) agree.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// stampCreate gives a new row one instant for created_at and updated_at;
// two defaults would each read the clock.
func stampCreate(next ent.Mutator) ent.Mutator {
	type stampMutation interface {
		SetCreatedAt(time.Time)
		SetUpdatedAt(time.Time)
	}
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if sm, ok := m.(stampMutation); ok && m.Op().Is(ent.OpCreate) {
			t := now()
			sm.SetCreatedAt(t)
			sm.SetUpdatedAt(t)
		}
		return next.Mutate(ctx, m)
	})
}

// trimTitle trims surrounding white space before the field validators run,
// so "   " is refused as empty and " a " is stored as "a".
func trimTitle(next ent.Mutator) ent.Mutator {
	type titleMutation interface {
		Title() (string, bool)
		SetTitle(string)
	}
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if tm, ok := m.(titleMutation); ok {
			if title, set := tm.Title(); set {
				tm.SetTitle(strings.TrimSpace(title))
			}
		}
		return next.Mutate(ctx, m)
	})
}

// validText checks a length in characters, not bytes, and refuses U+0000,
// which PostgreSQL text cannot hold.
func validText(name string, minLen, maxLen int) func(string) error {
	return func(s string) error {
		n := utf8.RuneCountInString(s)
		switch {
		case n < minLen:
			return fmt.Errorf("%s must not be empty", name)
		case n > maxLen:
			return fmt.Errorf("%s must be at most %d characters, got %d", name, maxLen, n)
		case !utf8.ValidString(s):
			return fmt.Errorf("%s must be valid UTF-8", name)
		case strings.ContainsRune(s, 0):
			return fmt.Errorf("%s must not contain NUL characters", name)
		}
		return nil
	}
}
