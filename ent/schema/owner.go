package schema

import (
	"context"
	"errors"
	"fmt"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/taskapi/server/ent/privacy"
	"github.com/taskapi/server/internal/rule"
	"github.com/taskapi/server/internal/viewer"
)

// OwnerMixin gives an entity a user_id owner taken from the viewer, and a
// privacy policy that confines every query and mutation to that owner. Each
// entity declares its own user_id-led index: index names are per table.
type OwnerMixin struct {
	mixin.Schema
}

// Fields of the OwnerMixin.
func (OwnerMixin) Fields() []ent.Field {
	return []ent.Field{
		// The owner never appears in the GraphQL schema: it comes from the token.
		field.String("user_id").
			NotEmpty().
			Immutable().
			Annotations(entgql.Skip()),
	}
}

// Hooks of the OwnerMixin.
func (OwnerMixin) Hooks() []ent.Hook {
	return []ent.Hook{setOwner}
}

// Policy of the OwnerMixin.
func (OwnerMixin) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			rule.DenyIfNoViewer(),
			rule.FilterByOwner(),
			privacy.AlwaysAllowRule(),
		},
		Mutation: privacy.MutationPolicy{
			rule.DenyIfNoViewer(),
			rule.DenyOwnerChange(),
			rule.FilterByOwner(),
			privacy.AlwaysAllowRule(),
		},
	}
}

// errNoViewer stops a create that has no viewer to own the row. The privacy
// policy denies such a create first; this guards the hook on its own.
var errNoViewer = errors.New("no viewer in context")

// setOwner fills user_id on create from the viewer, never from input.
func setOwner(next ent.Mutator) ent.Mutator {
	type ownerMutation interface {
		UserID() (string, bool)
		SetUserID(string)
	}
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if !m.Op().Is(ent.OpCreate) {
			return next.Mutate(ctx, m)
		}
		om, ok := m.(ownerMutation)
		if !ok {
			return nil, fmt.Errorf("owner hook: unexpected mutation type %T", m)
		}
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return nil, errNoViewer
		}
		if owner, set := om.UserID(); set && owner != v.Subject {
			return nil, fmt.Errorf("owner hook: owner %q is not the viewer", owner)
		}
		om.SetUserID(v.Subject)
		return next.Mutate(ctx, m)
	})
}
