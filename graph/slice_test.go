package graph

import (
	"bytes"
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

func TestMarshalSliceInOrderWithPanicsAsErrors(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter,
		func(ctx context.Context, err any) error { return gqlerror.Errorf("recovered: %v", err) })
	var indexes []int
	got := marshalSlice(ctx, 3, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
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
	if errs := graphql.GetErrors(ctx); len(errs) != 1 || errs[0].Message != "recovered: element 1" {
		t.Errorf("errors %v, want the recovered panic", errs)
	}
}
