package graph

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlseq"
	"github.com/taskapi/server/internal/scalar"
)

func TestMarshalSliceInOrderWithPanicsAsErrors(t *testing.T) {
	for name, marshal := range map[string]func(context.Context, int, int64, bool, func(context.Context, int) graphql.Marshaler) graphql.Array{
		"marshalSlice": marshalSlice, "marshalQuietSlice": marshalQuietSlice,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter,
				func(ctx context.Context, err any) error { return gqlerror.Errorf("recovered: %v", err) })
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "edges"}}})
			var indexes []int
			got := marshal(ctx, 3, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
				indexes = append(indexes, *graphql.GetFieldContext(ctx).Index)
				if i == 1 {
					panic("element 1")
				}
				return graphql.MarshalInt(i)
			})
			var buf bytes.Buffer
			got.MarshalGQL(&buf)
			if buf.String() != "[0,null,2]" {
				t.Errorf("marshaled %s, want [0,null,2]", buf.String())
			}
			if len(indexes) != 3 || indexes[0] != 0 || indexes[1] != 1 || indexes[2] != 2 {
				t.Errorf("field context indexes %v, want [0 1 2]", indexes)
			}
			if errs := graphql.GetErrors(ctx); len(errs) != 1 || errs[0].Message != "recovered: element 1" || errs[0].Path.String() != "edges[1]" {
				t.Errorf("errors %v, want the recovered panic at edges[1]", errs)
			}
		})
	}
}

// The marshalers whose fields internal/gqlseq calls directly
// (gqlseq.NeverNull) must never answer null for a value: such an error would
// carry the parent's path, as the rewritten field has no context of its own.
func TestStructReadMarshalersNeverNull(t *testing.T) {
	ec := &executionContext{}
	ctx := context.Background()
	empty := ""
	// How each answers a zero value; one entry per gqlseq.NeverNull name.
	answers := map[string]graphql.Marshaler{
		"marshalNBoolean2bool":                          ec.marshalNBoolean2bool(ctx, nil, false),
		"marshalNCursor2entgoᚗioᚋcontribᚋentgqlᚐCursor": ec.marshalNCursor2entgoᚗioᚋcontribᚋentgqlᚐCursor(ctx, nil, scalar.Cursor{}),
		"marshalNID2githubᚗcomᚋgoogleᚋuuidᚐUUID":        ec.marshalNID2githubᚗcomᚋgoogleᚋuuidᚐUUID(ctx, nil, uuid.Nil),
		"marshalNInt2int":                               ec.marshalNInt2int(ctx, nil, 0),
		"marshalNString2string":                         ec.marshalNString2string(ctx, nil, ""),
		"marshalNTime2timeᚐTime":                        ec.marshalNTime2timeᚐTime(ctx, nil, time.Time{}),
		"marshalOString2ᚖstring":                        ec.marshalOString2ᚖstring(ctx, nil, &empty),
	}
	for name := range gqlseq.NeverNull {
		m, ok := answers[name]
		switch {
		case !ok:
			t.Errorf("gqlseq.NeverNull has %s, which this test does not check", name)
		case m == graphql.Null:
			t.Errorf("%s answered null for a zero value", name)
		}
	}
	for name := range answers {
		if !gqlseq.NeverNull[name] {
			t.Errorf("%s is checked here but not in gqlseq.NeverNull", name)
		}
	}
}

type fieldCounter struct{}

func (fieldCounter) ExtensionName() string                   { return "FieldCounter" }
func (fieldCounter) Validate(graphql.ExecutableSchema) error { return nil }
func (fieldCounter) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	return next(ctx)
}

// Struct-read fields skip field middleware, so NewHandler takes none but
// resolver-only tracing.
func TestNewHandlerRefusesFieldMiddleware(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "intercepts fields") {
			t.Errorf("NewHandler took an extension that intercepts fields (recovered %v)", r)
		}
	}()
	NewHandler(nil, nil, Options{Extensions: []graphql.HandlerExtension{fieldCounter{}}})
}
