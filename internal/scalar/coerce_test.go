package scalar_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/scalar"
)

func TestUnmarshalInt(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int
	}{
		{json.Number("5"), 5},
		{json.Number("0"), 0},
		{json.Number("-0"), 0},
		{json.Number("2147483647"), math.MaxInt32},
		{json.Number("-2147483648"), math.MinInt32},
		{int64(100), 100},
		{int64(-2147483648), math.MinInt32},
		{7, 7},
		{int32(-7), -7},
		{float64(20), 20},
	} {
		got, err := scalar.UnmarshalInt(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("UnmarshalInt(%#v) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   any
		want string
	}{
		{"5", `Int cannot represent "5": a string is not an Int`},
		{json.Number("1.5"), `Int cannot represent 1.5: not a whole number`},
		{json.Number("1.0"), `Int cannot represent 1.0: write an Int without a fraction or exponent`},
		{json.Number("1e2"), `Int cannot represent 1e2: write an Int without a fraction or exponent`},
		{json.Number("1e400"), `Int cannot represent 1e400: write an Int without a fraction or exponent`},
		{json.Number("2147483648"), `Int cannot represent 2147483648: not in the 32-bit range`},
		{json.Number("-2147483649"), `Int cannot represent -2147483649: not in the 32-bit range`},
		{json.Number("9223372036854775808"), `Int cannot represent 9223372036854775808: not in the 32-bit range`},
		{json.Number(strings.Repeat("9", 5000)), `Int cannot represent ` + strings.Repeat("9", 32) + `…: not in the 32-bit range`},
		{json.Number("0x10"), `Int cannot represent 0x10: not a number`},
		{json.Number("01"), `Int cannot represent 01: not a number`},
		{json.Number(""), `Int cannot represent : not a number`},
		{int64(1) << 31, `Int cannot represent 2147483648: not in the 32-bit range`},
		{int64(math.MaxInt64), `Int cannot represent 9223372036854775807: not in the 32-bit range`},
		{1.5, `Int cannot represent 1.5: not a whole number`},
		{math.Inf(1), `Int cannot represent +Inf: not a number`},
		{3e9, `Int cannot represent 3e+09: not in the 32-bit range`},
		{true, `Int cannot represent true: not a number`},
		{nil, `Int cannot represent null: not a number`},
		{[]any{json.Number("1")}, `Int cannot represent a list: not a number`},
		{map[string]any{"a": 1}, `Int cannot represent an object: not a number`},
		{strings.Repeat("é", 100), `Int cannot represent "` + strings.Repeat("é", 16) + `…": a string is not an Int`},
	} {
		_, err := scalar.UnmarshalInt(tc.in)
		assertBadInput(t, err, tc.want)
	}
}

func TestBoolean(t *testing.T) {
	for _, b := range []bool{true, false} {
		got, err := scalar.UnmarshalBoolean(b)
		if err != nil || got != b {
			t.Errorf("UnmarshalBoolean(%v) = %v, %v", b, got, err)
		}
	}
	for _, tc := range []struct {
		in   any
		want string
	}{
		{"true", `Boolean cannot represent "true": only true and false are Booleans`},
		{"yes", `Boolean cannot represent "yes": only true and false are Booleans`},
		{json.Number("1"), `Boolean cannot represent 1: only true and false are Booleans`},
		{int64(0), `Boolean cannot represent 0: only true and false are Booleans`},
		{nil, `Boolean cannot represent null: only true and false are Booleans`},
	} {
		_, err := scalar.UnmarshalBoolean(tc.in)
		assertBadInput(t, err, tc.want)
	}
}

func assertBadInput(t testing.TB, err error, want string) {
	t.Helper()
	var ge *gqlerror.Error
	if !errors.As(err, &ge) || ge.Message != want || ge.Extensions["code"] != gqlerr.BadUserInput {
		t.Errorf("error %v, want BAD_USER_INPUT %q", err, want)
	}
}

// jsonInt is a JSON number without fraction or exponent: an Int's text.
var jsonInt = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// FuzzUnmarshalInt: whatever the value, UnmarshalInt gives the integer it
// means when that is an Int, and BAD_USER_INPUT otherwise. kind picks what
// the value arrives as: a variable's json.Number, a string, a literal's
// int64 or a float64.
func FuzzUnmarshalInt(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind uint8, s string, n int64, x float64) {
		var in any
		var want *big.Int // nil: must be refused
		switch kind % 4 {
		case 0:
			in = json.Number(s)
			if jsonInt.MatchString(s) {
				want, _ = new(big.Int).SetString(s, 10)
			}
		case 1:
			in = s
		case 2:
			in, want = n, big.NewInt(n)
		case 3:
			in = x
			if !math.IsInf(x, 0) && !math.IsNaN(x) && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				want = big.NewInt(int64(x))
			}
		}
		if want != nil && (want.Cmp(big.NewInt(math.MinInt32)) < 0 || want.Cmp(big.NewInt(math.MaxInt32)) > 0) {
			want = nil
		}
		got, err := scalar.UnmarshalInt(in)
		if want == nil {
			var ge *gqlerror.Error
			if !errors.As(err, &ge) || ge.Extensions["code"] != gqlerr.BadUserInput ||
				!strings.HasPrefix(ge.Message, "Int cannot represent ") || len(ge.Message) > 200 {
				t.Fatalf("UnmarshalInt(%#v) = %d, %v; want BAD_USER_INPUT", in, got, err)
			}
			return
		}
		if err != nil || int64(got) != want.Int64() {
			t.Fatalf("UnmarshalInt(%#v) = %d, %v; want %s", in, got, err, want)
		}
	})
}
