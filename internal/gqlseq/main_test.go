package main

import (
	"bytes"
	"strings"
	"testing"
)

// field is gqlgen's code for a struct-read field, with its field context.
func field(name, marshal, context string) string {
	return `func (ec *executionContext) _Task_` + name + `(ctx context.Context, field graphql.CollectedField, obj *ent.Task) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_Task_` + name + `(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.X, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v string) graphql.Marshaler {
			return ec.` + marshal + `(ctx, selections, v)
		},
		true,
		true,
	)
}
` + context
}

func bare(name string) string {
	return `func (ec *executionContext) fieldContext_Task_` + name + `(_ context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	return graphql.NewScalarFieldContext("Task", field, false, false, "String")
}
`
}

func withArgs(name string) string {
	return `func (ec *executionContext) fieldContext_Task_` + name + `(ctx context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	fc = graphql.NewScalarFieldContext("Task", field, false, false, "String")
	if fc.Args, err = ec.field_Task_` + name + `_args(ctx, field.ArgumentMap(ec.Variables)); err != nil {
		return fc, err
	}
	return fc, nil
}
`
}

func TestOnlyBareNeverNullFieldsAreRewritten(t *testing.T) {
	src := field("plain", "marshalNString2string", bare("plain")) +
		field("args", "marshalNString2string", withArgs("args")) +
		field("maybeNull", "marshalNMine2string", bare("maybeNull"))
	out, n := rewritePlainScalars([]byte(src))
	if n != 1 {
		t.Fatalf("rewrote %d fields, want 1:\n%s", n, out)
	}
	if !bytes.Contains(out, []byte("return ec.marshalNString2string(ctx, field.Selections, obj.X) "+plainScalarMark)) {
		t.Errorf("the bare field was not rewritten:\n%s", out)
	}
	for _, kept := range []string{"_Task_args", "_Task_maybeNull"} {
		i := bytes.Index(out, []byte(kept+"("))
		if i < 0 || !strings.HasPrefix(string(out[i:]), kept+"(ctx context.Context, field graphql.CollectedField, obj *ent.Task) (ret graphql.Marshaler) {\n\treturn graphql.ResolveField(") {
			t.Errorf("%s was rewritten; it must keep graphql.ResolveField", kept)
		}
	}
	again, m := rewritePlainScalars(out)
	if m != 0 || !bytes.Equal(again, out) {
		t.Error("a second pass changed the output")
	}
}
