// Package rule holds the ent privacy rules that bind every Task query and
// mutation to the viewer in the context.
package rule

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/taskapi/server/ent/privacy"
	"github.com/taskapi/server/internal/viewer"
)

// DenyIfNoViewer denies any query or mutation made without a viewer.
func DenyIfNoViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if _, ok := viewer.FromContext(ctx); !ok {
			return privacy.Denyf("no viewer in context")
		}
		return privacy.Skip
	})
}

// FilterByOwner narrows queries, updates and deletes to the viewer's rows.
// Inserts are not narrowed by a filter: DenyOwnerChange and the owner hook
// cover them.
func FilterByOwner() privacy.QueryMutationRule {
	type ownerFilter interface{ WhereUserID(entql.StringP) }
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return privacy.Denyf("no viewer in context")
		}
		of, ok := f.(ownerFilter)
		if !ok {
			return privacy.Denyf("unexpected filter type %T", f)
		}
		of.WhereUserID(entql.StringEQ(v.Subject))
		return privacy.Skip
	})
}

// DenyOwnerChange denies a create whose explicit owner is not the viewer, and
// any update that sets the owner: rows never change hands. A create without
// an owner is left to the owner hook, which takes it from the viewer.
func DenyOwnerChange() privacy.MutationRule {
	type ownerMutation interface {
		UserID() (string, bool)
		Op() ent.Op
	}
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		om, ok := m.(ownerMutation)
		if !ok {
			return privacy.Denyf("unexpected mutation type %T", m)
		}
		owner, set := om.UserID()
		if !set {
			return privacy.Skip
		}
		v, ok := viewer.FromContext(ctx)
		if !ok || !om.Op().Is(ent.OpCreate) || owner != v.Subject {
			return privacy.Denyf("owner must be the viewer")
		}
		return privacy.Skip
	})
}
