// Package viewer carries the verified identity of the caller through a
// request's context. The auth middleware puts it there; ent privacy rules
// read it. Nothing else decides who the caller is.
package viewer

import "context"

// Viewer is the authenticated caller.
type Viewer struct {
	// Subject is the JWT "sub" claim: the Better Auth user id. Never empty.
	Subject string
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx. ok is false when there is none, or
// when its subject is empty: an empty subject never counts as a viewer.
func FromContext(ctx context.Context) (v Viewer, ok bool) {
	v, ok = ctx.Value(ctxKey{}).(Viewer)
	return v, ok && v.Subject != ""
}
