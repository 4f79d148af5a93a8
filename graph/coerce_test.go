package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
)

// The generated code reads Int and Boolean through internal/scalar, which
// coerces as the spec says; gqlgen's own took "5" as 5 and "yes" as false.
// Through HTTP gqlparser refuses some of these first (see the top-level
// tests); these are what reaches the scalars.
func TestGeneratedIntAndBooleanAreStrict(t *testing.T) {
	ec := &executionContext{}
	ctx := context.Background()
	for name, err := range map[string]error{
		`Int "5"`:         second(ec.unmarshalOInt2ᚖint(ctx, "5")),
		`Int 1.5`:         second(ec.unmarshalOInt2ᚖint(ctx, json.Number("1.5"))),
		`Int 1e2`:         second(ec.unmarshalNInt2int(ctx, json.Number("1e2"))),
		`Int 2^31`:        second(ec.unmarshalNInt2int(ctx, int64(1)<<31)),
		`Int true`:        second(ec.unmarshalNInt2int(ctx, true)),
		`Boolean "true"`:  second(ec.unmarshalOBoolean2ᚖbool(ctx, "true")),
		`Boolean "yes"`:   second(ec.unmarshalNBoolean2bool(ctx, "yes")),
		`Boolean 1`:       second(ec.unmarshalOBoolean2bool(ctx, int64(1))),
		`Boolean "false"`: second(ec.unmarshalNBoolean2bool(ctx, "false")),
	} {
		var ge *gqlerror.Error
		if !errors.As(err, &ge) || ge.Extensions["code"] != gqlerr.BadUserInput {
			t.Errorf("%s: error %v, want BAD_USER_INPUT", name, err)
		}
	}
	if n, err := ec.unmarshalOInt2ᚖint(ctx, json.Number("20")); err != nil || *n != 20 {
		t.Errorf("Int 20: %v, %v", n, err)
	}
	for want, m := range map[string]graphql.Marshaler{
		"true":        ec.marshalNBoolean2bool(ctx, nil, true),
		"false":       ec.marshalNBoolean2bool(ctx, nil, false),
		"-2147483648": ec.marshalNInt2int(ctx, nil, math.MinInt32),
		"1234567":     ec.marshalNInt2int(ctx, nil, 1234567),
	} {
		var b bytes.Buffer
		m.MarshalGQL(&b)
		if b.String() != want {
			t.Errorf("wrote %s, want %s", b.String(), want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
